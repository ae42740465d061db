"""3D U-Net kidney and tumour segmentation on KiTS19 (MLPerf "3d-unet-99" and "3d-unet-99.9")."""
