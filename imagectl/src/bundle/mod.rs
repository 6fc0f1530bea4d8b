//! Bundles: image config to runtime config.json, and the rootfs (overlay over cached layers, or a copy).
