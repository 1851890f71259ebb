//! Security incidents.
