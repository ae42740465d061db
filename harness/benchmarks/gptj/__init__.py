"""GPT-J 6B summarisation of CNN-DailyMail (gptj-99, gptj-99.9)."""
