//! The connection case (anslutningsärende).
