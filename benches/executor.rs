//! Executor benchmarks (they land with the bench branch).

fn main() {}
