from tui.core.engine.stopper import StopScanner


def run(pieces, stops):
    s = StopScanner(stops)
    shown = []
    for p in pieces:
        out, hit = s.feed(p)
        shown.append(out)
        if hit:
            return "".join(shown), True, s.text
    shown.append(s.flush())
    return "".join(shown), False, s.text


def test_stop_split_across_pieces_is_never_shown():
    shown, hit, text = run(["Hello", " there", "\n", "Sa", "m:", " hi"], ["\nSam:"])
    assert hit and shown == "Hello there" and text == "Hello there"


def test_partial_match_released_when_it_turns_out_harmless():
    shown, hit, text = run(["a\n", "Sa", "ndy came"], ["\nSam:"])
    assert not hit and shown == "a\nSandy came" == text


def test_earliest_of_several_stops_wins():
    shown, hit, _ = run(["x<|im_end|>\nSam: y"], ["\nSam:", "<|im_end|>"])
    assert hit and shown == "x"


def test_no_stops_streams_everything():
    shown, hit, _ = run(["a", "b"], [])
    assert shown == "ab" and not hit
