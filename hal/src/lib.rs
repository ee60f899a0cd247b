//! Hardware seams of Facegate: camera, door relay and inference execution
//! provider traits (see README.md). Empty until the edge loop lands.
