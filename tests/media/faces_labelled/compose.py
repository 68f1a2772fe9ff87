"""Build labels.json and the phone-resolution composites of this folder from dlib's labelled photos.

    python tests/media/faces_labelled/compose.py SRC   # SRC: ../shared/media/faces_labelled

labels.json: {file: {"width", "height", "faces": [[left, top, width, height], ...]}} in the stored
pixels (upright). The VOC photos keep dlib's hand-labelled boxes (training.xml + testing.xml, boxes
marked ignore left out); the composites paste them onto a 4000x3000 canvas (a 12 MP phone photo) at
2x (faces 74-218 px) and at 0.7x (faces 26-76 px), boxes scaled with them. Tom_Cruise_avp_2014_4.jpg
and kit_with_rose.jpg were labelled by hand (checked on screen); dogs.jpg has no human face.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
HAND = {
    "Tom_Cruise_avp_2014_4.jpg": [[76, 290, 386, 386]],
    "kit_with_rose.jpg": [[79, 130, 76, 75], [247, 92, 108, 108]],
    "dogs.jpg": [],
}
COMPOSITES = {
    # name: (scale, [(photo, left, top), ...]) on a 4000x3000 canvas
    "phone_2x.jpg": (2.0, [("2007_007763.jpg", 0, 0), ("2008_002079.jpg", 2000, 0),
                           ("2008_001322.jpg", 0, 1500), ("2008_004176.jpg", 2000, 1500)]),
    "phone_small.jpg": (0.7, [("2008_002470.jpg", 200, 300), ("2008_007676.jpg", 1800, 1200),
                              ("2009_004587.jpg", 3000, 300), ("2008_002506.jpg", 600, 2000)]),
}


def main(src: Path) -> None:
    labels = {}
    for xml in ("training.xml", "testing.xml"):
        for im in ET.parse(src / xml).getroot().iter("image"):
            labels[im.get("file")] = {
                "width": int(im.get("width")), "height": int(im.get("height")),
                "faces": [[int(b.get(k)) for k in ("left", "top", "width", "height")]
                          for b in im.iter("box") if b.get("ignore") != "1"]}
    for name, faces in HAND.items():
        with Image.open(HERE / name) as im:
            labels[name] = {"width": im.width, "height": im.height, "faces": faces}
    for name, (scale, placed) in COMPOSITES.items():
        canvas = Image.new("RGB", (4000, 3000), (118, 124, 112))
        faces = []
        for photo, left, top in placed:
            with Image.open(HERE / photo) as im:
                size = (round(im.width * scale), round(im.height * scale))
                canvas.paste(im.convert("RGB").resize(size, Image.Resampling.LANCZOS), (left, top))
            faces += [[round(left + x * scale), round(top + y * scale), round(w * scale), round(h * scale)]
                      for x, y, w, h in labels[photo]["faces"]]
        canvas.save(HERE / name, "JPEG", quality=88)
        labels[name] = {"width": 4000, "height": 3000, "faces": faces}
    (HERE / "labels.json").write_text(json.dumps(labels, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
