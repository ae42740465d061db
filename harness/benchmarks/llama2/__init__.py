"""Llama 2 70B on OpenOrca (llama2-70b-99, llama2-70b-99.9)."""
