//! The Facegate face engine: detection, landmarks, alignment, templates,
//! liveness and attributes on ONNX Runtime (see README.md). Empty until the
//! face engine lands.
