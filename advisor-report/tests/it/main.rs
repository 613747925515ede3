//! advisor-report's integration tests.

mod hostile;
mod html;
mod summary;
