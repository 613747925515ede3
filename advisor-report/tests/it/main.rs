//! advisor-report's integration tests.

mod hostile;
mod html;
