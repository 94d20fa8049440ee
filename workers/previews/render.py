"""Rendering one preview, run as a child process: `python -m workers.previews.render KIND
SOURCE TARGET MAX_PIXELS MAX_POINTS EDGE`.

A hostile image or PDF can make a decoder take minutes or gigabytes; in a process of its own,
held by the parent to CPU and memory limits and killed on cancellation, it cannot make the
worker spin. Exit codes: 0 written, 3 too large, 4 unreadable.
"""

from __future__ import annotations

import sys
from pathlib import Path

TOO_LARGE = 3
UNREADABLE = 4


def render_image(source: Path, target: Path, max_pixels: int, edge: int) -> int:
    from PIL import Image, UnidentifiedImageError

    # The bound is checked here, from the header, before any pixel is decoded.
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(source) as image:
            width, height = image.size
            if width * height > max_pixels:
                print(f"the image has {width}x{height} pixels, more than {max_pixels}",
                      file=sys.stderr)
                return TOO_LARGE
            image.draft("RGB", (edge, edge))  # JPEG: decode at a reduced scale
            image.thumbnail((edge, edge))
            converted = image.convert("RGBA" if "A" in image.getbands() else "RGB")
            converted.save(target, "PNG")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        print(f"the image cannot be read: {exc}", file=sys.stderr)
        return UNREADABLE
    return 0


def render_pdf(source: Path, target: Path, max_points: int, edge: int) -> int:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(source)
        if len(pdf) == 0:
            print("the PDF has no pages", file=sys.stderr)
            return UNREADABLE
        page = pdf[0]
        width, height = page.get_size()
        if max(width, height) > max_points or min(width, height) <= 0:
            print(f"the first page is {width:.0f}x{height:.0f} points, over {max_points}",
                  file=sys.stderr)
            return TOO_LARGE
        bitmap = page.render(scale=edge / max(width, height))
        bitmap.to_pil().save(target, "PNG")
    except pdfium.PdfiumError as exc:
        print(f"the PDF cannot be read: {exc}", file=sys.stderr)
        return UNREADABLE
    return 0


def main(argv: list[str]) -> int:
    kind, source, target, max_pixels, max_points, edge = argv
    if kind == "image":
        return render_image(Path(source), Path(target), int(max_pixels), int(edge))
    return render_pdf(Path(source), Path(target), int(max_points), int(edge))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
