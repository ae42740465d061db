"""BERT-Large question answering on SQuAD v1.1 (bert-99, bert-99.9)."""
