"""The training benchmark at toy scale (it broke unseen once: an import of a name the config no longer has), so
that `python -m benchmarks.training`, which the README cites, keeps running and printing its table."""

from benchmarks.training import main


def test_the_training_benchmark_prints_a_row_per_batching(capsys):
    main(["--samples", "16", "--epochs", "1", "--repeats", "1"])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| batching")]
    assert len(rows) == 4 and rows[0].startswith("| shuffled, padded") and "1.00x" in rows[0]
    assert all(float(row.split("|")[2]) > 0 for row in rows)  # median seconds of each batching
