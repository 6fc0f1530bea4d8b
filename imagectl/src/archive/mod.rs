//! Image archives: docker-archive (docker save) and oci-archive tars, both ways.
