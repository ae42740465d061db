"""MLPerf rnnt (speech recognition on LibriSpeech dev-clean, retired after v3.1) as a benchmark family.

- ``benchmark.toml``: the registry entry;
- ``manifest.py`` reads the manifest MLPerf's ``convert_librispeech.py``
  writes (``dev-clean-wav.json``), ``wav.py`` its 16 kHz PCM files,
  ``text.py`` normalises transcripts as MLPerf's ``Manifest`` does;
- ``dataset.py``: that layout, staged as one waveform per utterance;
- ``features.py``: MLPerf's log-mel filterbank (``FilterbankFeatures``),
  run inside the system under test as MLPerf's SUT runs it;
- ``task.py``: features, the model, greedy decoding (``decoding.py``),
  transcripts answered as int64 label ids as MLPerf's SUT answers them;
- ``scorer.py``: the word error rate as ``accuracy_eval.py`` prints it (``wer.py``);
- ``build_proxy.py``: renders ``synth.py``'s spoken "phoneme tone" utterances
  and trains ``model.py``'s small CTC recogniser into ``proxy/``.
"""
