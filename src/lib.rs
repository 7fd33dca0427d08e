//! Library side of the `souk` package: shared by the CLI (`souk bench`) and the end-to-end tests.

pub mod workload;
