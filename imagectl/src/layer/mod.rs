//! Layers: decompression, safe application (whiteouts, links, devices, xattrs), the unpacked-layer cache.
