//! The application layer: what the HTTP edge and the command line both do, without HTTP.
//! Each flow takes the subsystems it needs and returns its own outcome and error; the routes
//! (`routes/`) and the CLI (`cli.rs`, `*_cli.rs`) turn those into answers.

pub mod forget;
