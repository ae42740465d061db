"""ResNet50-v1.5 image classification on ImageNet (MLPerf "resnet")."""
