"""Reading one photo: the file's bytes (read_photo), decoded to RGB on white (load_image: padded square;
load_photo: as framed), with every unusable file refused by an ImageError that says why in one line.

Absurd files are refused before they cost memory: over MAX_BYTES on disk, over MAX_PIXELS decoded (PIL's
decompression-bomb warning is turned into that refusal), and anything that is not a regular file.
"""
from __future__ import annotations

import contextlib
import io
import math
import os
import re
import stat
import warnings
from typing import BinaryIO, Iterable, Iterator

import numpy as np
from PIL import Image, ImageOps

from .config import PHOTO_SIZE
from .errors import ShoevaeError

MAX_PIXELS = 50_000_000  # larger images are refused as absurd (PIL's bomb guard is 89M)
MAX_BYTES = 100 * 1024 * 1024


class ImageError(ShoevaeError, ValueError):
    """An image that cannot be used, with a one-line human reason."""


def refuse_bombs() -> None:
    """PIL warns above 89M pixels; such images are refused (MAX_PIXELS), so the warning becomes that reason."""
    warnings.filterwarnings("error", category=Image.DecompressionBombWarning)


@contextlib.contextmanager
def bombs_refused() -> Iterator[None]:
    """Within: PIL's bomb warning is an error (refuse_bombs), for this thread's work and threads it waits on."""
    with warnings.catch_warnings():  # entered once per call or decode, in the calling thread
        refuse_bombs()
        yield


_SPECIAL = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
            (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _not_regular(mode: int) -> str:
    """'' for a regular file, else why it is not a photo file ('not a regular file: a named pipe (FIFO)')."""
    if stat.S_ISREG(mode):
        return ""
    kind = next((name for test, name in _SPECIAL if test(mode)), "a special file")
    return f"not a regular file: {kind}"


def read_photo(path: str | os.PathLike) -> bytes:
    """The bytes of a photo file: a regular file (or a link to one) of 1 byte to MAX_BYTES, read with that limit.

    Every photo read from disk goes through here, so a named pipe, a device (a link to /dev/zero),
    a folder or a socket is refused with an ImageError instead of blocking or reading without end:
    the type is checked before opening (opening a device can have effects), opening does not wait
    for a pipe's writer (O_NONBLOCK), and the open file is checked again (it may have been swapped).
    """
    try:
        why = _not_regular(os.stat(path).st_mode)
        if why:
            raise ImageError(why)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
        with open(fd, "rb", closefd=True) as f:
            st = os.fstat(fd)
            why = _not_regular(st.st_mode)
            if why:
                raise ImageError(why)
            if st.st_size > MAX_BYTES:
                raise ImageError(f"file too large ({st.st_size / 2**20:.0f} MB)")
            want = st.st_size + 1  # one byte more than it says: was it growing? (read(n) allocates n bytes first)
            data = f.read(want)
            if len(data) == want:  # it was (or the system does not know its size): read on, to the limit only
                data += f.read(MAX_BYTES + 1 - len(data))
    except ImageError:
        raise
    except (FileNotFoundError, NotADirectoryError):
        raise ImageError("file not found") from None
    except OSError as e:
        raise ImageError(f"unreadable file ({e.strerror or e})") from None
    except ValueError as e:  # a NUL character in the name
        raise ImageError(f"unusable file name ({e})") from None
    if not data:
        raise ImageError("empty file")
    if len(data) > MAX_BYTES:
        raise ImageError(f"file too large (over {MAX_BYTES / 2**20:.0f} MB)")
    return data


def safe_name(text: str) -> str:
    """A name as it can be printed and written anywhere (UTF-8): bytes of a file name that are not valid
    UTF-8 (kept by Python as surrogates, os.fsdecode) shown as \\xNN escapes; valid names unchanged."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def odd_names(paths: Iterable[str]) -> list[str]:
    """The paths whose names are not valid UTF-8 (readable as they are, shown by safe_name)."""
    return [p for p in paths if safe_name(p) != p]


def load_image(source: str | os.PathLike | bytes | BinaryIO, size: int = PHOTO_SIZE) -> np.ndarray:
    """Read one image as uint8 (size, size, 3): RGB, transparency on white, padded square with white.

    Raises ImageError with a short reason for anything unusable (not an image, truncated, empty,
    absurdly large, unreadable).
    """
    with bombs_refused():
        return square_image(source, size)


def load_photo(source: str | os.PathLike | bytes | BinaryIO, max_side: int) -> np.ndarray:
    """Read one image as uint8 (H, W, 3) RGB as it is framed (not padded), its longer side at most `max_side`.

    The same reading and refusals (ImageError) as load_image; for photos that are prepared before use.
    """
    with bombs_refused():
        im = _open_rgb(source, max_side)
    if max(im.size) > max_side:
        scale = max_side / max(im.size)
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.LANCZOS)
    return np.asarray(im, dtype=np.uint8)


def square_image(source: str | os.PathLike | bytes | BinaryIO, size: int) -> np.ndarray:
    """load_image without entering bombs_refused: for decoders that hold it around many photos."""
    im = _open_rgb(source, size)
    square = ImageOps.pad(im, (size, size), Image.Resampling.LANCZOS, color=(255, 255, 255))
    return np.asarray(square, dtype=np.uint8)


def _open_rgb(source: str | os.PathLike | bytes | BinaryIO, size: int) -> Image.Image:
    """The image in RGB (transparency on white), decoded at no less than `size` on its longer side where
    JPEG allows a smaller draft; ImageError for anything unusable."""
    try:
        if isinstance(source, (bytes, bytearray)):
            if len(source) == 0:
                raise ImageError("empty file")
            source = io.BytesIO(source)
        elif isinstance(source, (str, os.PathLike)):
            source = io.BytesIO(read_photo(source))
        with Image.open(source) as im:
            if im.width * im.height > MAX_PIXELS:
                raise ImageError(f"image too large ({im.width}x{im.height} pixels)")
            scale = size / max(im.size)  # JPEG: decode at 1/2, 1/4 or 1/8 scale when that still covers `size`
            im.draft("RGB", (max(1, math.ceil(im.width * scale)), max(1, math.ceil(im.height * scale))))
            im.load()  # truncated or corrupt data fails here
            ImageOps.exif_transpose(im, in_place=True)
            return _to_rgb(im)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        pixels = re.search(r"\((\d+) pixels\)", str(e))
        raise ImageError(f"image too large ({int(pixels[1]):,} pixels)" if pixels else
                         "image too large (decompression bomb guard)") from None
    except FileNotFoundError:
        raise ImageError("file not found") from None
    except Image.UnidentifiedImageError:
        raise ImageError("not an image (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"unreadable image ({str(e).splitlines()[0][:80] or type(e).__name__})") from None


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, rgba)
    elif im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16/32-bit gray: PIL's convert would clip at 255
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        if im.mode.startswith("I") and lo >= 0 and hi <= 65535:
            arr = arr / 257 if im.mode.startswith("I;16") or hi > 255 else arr  # 16-bit full scale -> 8-bit
        else:  # float or out-of-range integers: stretch what is there
            arr = (arr - lo) / ((hi - lo) or 1.0) * 255
        im = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8))
    if im.mode != "RGB":
        im = im.convert("RGB")  # CMYK, L, 1, P, YCbCr ...
    return im
