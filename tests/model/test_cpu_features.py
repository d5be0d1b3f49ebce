from model.cpu_features import cpu_flags, speed_flags_text


def _cpuinfo(tmp_path, flags: str):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 {flags}\n\nprocessor\t: 1\n", encoding="utf-8")
    return path


def test_flags_are_read_from_the_first_processor(tmp_path):
    assert cpu_flags(_cpuinfo(tmp_path, "avx2 avx512f")) == {"fpu", "sse2", "avx2", "avx512f"}
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_the_benchmark_header_names_only_the_flags_that_change_speed(tmp_path):
    assert speed_flags_text(_cpuinfo(tmp_path, "avx512_bf16 avx2 avx512f avx512_vnni")) == "avx2 avx512f avx512_vnni avx512_bf16"
    assert speed_flags_text(_cpuinfo(tmp_path, "sse4_2")) == "no AVX2"
    assert speed_flags_text(tmp_path / "missing") == "unknown"
