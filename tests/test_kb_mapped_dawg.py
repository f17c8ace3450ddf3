"""pymorphy3's word lists are read through a memory map (``hotline/kb/mapped_dawg.py``): the units
are the file's pages, not a heap copy, and every lookup answers as the array read into the heap does."""

from __future__ import annotations

import io
import mmap
from pathlib import Path

import pytest
from dawg_python import DAWG, RecordDAWG, wrapper

from hotline.kb import mapped_dawg
from hotline.kb.text import _morph

WORDS = ["повестку", "повестки", "сдаться", "нашли", "данные", "военкомат", "павестку", "п'ять", "сім'я", "людей"]


def _words_dawg_path(language: str) -> Path:
    import pymorphy3_dicts_ru
    import pymorphy3_dicts_uk

    package = pymorphy3_dicts_ru if language == "ru" else pymorphy3_dicts_uk
    return Path(package.get_path()) / "words.dawg"


def test_the_dictionaries_units_are_a_read_only_map_of_the_file() -> None:
    morph = _morph("ru")
    words = morph.dictionary.words
    units = words.dct._units
    assert isinstance(units, memoryview) and units.readonly and units.format == "I"
    assert isinstance(units.obj, mmap.mmap)
    assert isinstance(words.guide._units, memoryview) and words.guide._units.format == "B"


@pytest.mark.parametrize("language", ["ru", "uk"])
def test_a_mapped_dictionary_answers_as_one_read_into_the_heap(language: str) -> None:
    path = _words_dawg_path(language)
    mapped = RecordDAWG(">HH").load(str(path))
    with open(path, "rb") as f:  # a stream without a file descriptor is read into an array, as before
        data = io.BytesIO(f.read())
    heap = RecordDAWG(">HH")
    heap.dct, heap.guide = wrapper.Dictionary(), wrapper.Guide()
    heap.dct.read(data)
    heap.guide.read(data)
    assert isinstance(heap.dct._units, wrapper.array.array) and isinstance(mapped.dct._units, memoryview)
    for word in WORDS:
        assert mapped.get(word) == heap.get(word)
        assert list(mapped.keys(word[:3]))[:50] == list(heap.keys(word[:3]))[:50]
    assert [w for w in WORDS if w in mapped] == [w for w in WORDS if w in heap]


def test_a_file_shorter_than_its_header_is_refused(tmp_path: Path) -> None:
    mapped_dawg.install()
    broken = tmp_path / "broken.dawg"
    broken.write_bytes((1000).to_bytes(4, "little") + b"\0" * 40)
    with pytest.raises(EOFError):
        DAWG().load(str(broken))
