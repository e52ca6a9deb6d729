//! Root package: owns examples, tests and benches.
