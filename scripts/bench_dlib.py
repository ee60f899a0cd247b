"""Median latency of face_recognition 1.3.0 (dlib) on the same photos as
`cargo bench -p facegate-models --bench stages`, for comparison.

Run by scripts/bench-stages.sh, which sets up its venv. Prints a markdown
table: decode (PIL), detect (HOG, one upsample: face_locations' default),
encode (68-point landmarks + ResNet template: face_encodings)."""
import os
import statistics
import sys
import time

import face_recognition

PHOTOS = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"]


def median_ms(runs, fn):
    for i in range(len(PHOTOS)):
        fn(i)  # warm-up
    times = []
    for _ in range(runs):
        for i in range(len(PHOTOS)):
            started = time.perf_counter()
            fn(i)
            times.append((time.perf_counter() - started) * 1e3)
    return statistics.median(times)


def main():
    testdata, runs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5
    paths = [os.path.join(testdata, name) for name in PHOTOS]
    images = [face_recognition.load_image_file(p) for p in paths]
    boxes = [face_recognition.face_locations(image) for image in images]
    assert all(len(b) == 1 for b in boxes), boxes
    rows = [
        ("decode (PIL)", median_ms(runs, lambda i: face_recognition.load_image_file(paths[i]))),
        ("detect (HOG)", median_ms(runs, lambda i: face_recognition.face_locations(images[i]))),
        ("landmarks + template", median_ms(runs, lambda i: face_recognition.face_encodings(images[i], boxes[i]))),
    ]
    print(f"face_recognition 1.3.0 / dlib, median ms per photo over {runs} rounds, 1 thread\n")
    print("| stage | 1 thread |")
    print("|---|---|")
    for name, ms in rows:
        print(f"| {name} | {ms:.2f} |")


if __name__ == "__main__":
    main()
