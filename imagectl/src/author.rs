//! Writing new images into the store: layer blobs from tar streams (compressed and hashed in one pass), configs with history, manifests, names.
