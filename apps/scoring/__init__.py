"""`stance score`: a news archive scored sentence by sentence, locally or on Ray, resumable."""
