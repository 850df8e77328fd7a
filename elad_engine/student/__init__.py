"""Everything that runs the student on torch: loading, batched generation, step probes, explanations of the pool,
LoRA training, evaluation on the test split, and multi-process launch through accelerate. Import the module you
need (`elad_engine.student.model`, ...): this package imports nothing itself, so torch loads only when used."""
