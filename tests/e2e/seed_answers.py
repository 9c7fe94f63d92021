"""Scripted answers for the seed spec, shaped like the ones the seed article reports.

Llama 3.1 405B: says 9.11 is larger; gets f(g(1)) right; writes a Tetris that runs but
ignores the keys; names tool parameters explicitly; passes made-up values to the GCD tool;
extracts the company fine but the medical text vaguely. GPT-4o: right on 9.9, right on
f(g(1)), a playable Tetris, bare tool values, also wrong on the chained GCD in the text
protocol (as in the article), but right with native function calling.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from evalspec.testing.server import Reply

FIXTURES = Path(__file__).resolve().parents[1] / "sandbox" / "fixtures"
WORKING_TETRIS = (FIXTURES / "tetris_pygame.py").read_text()
DEAF_TETRIS = (FIXTURES / "tetris_pygame_deaf.py").read_text()

S1 = {
    "llama": "9.11 is larger than 9.9. When comparing decimals, 11 is greater than 9, "
             "so 9.11 > 9.9.",
    "gpt4o": "To compare 9.11 and 9.9, align the decimal places: 9.11 and 9.90. Since 90 "
             "hundredths is more than 11 hundredths, **9.9 is larger** than 9.11.",
}
S2 = {
    "llama": "First, g(1) = \\sqrt{1} + 3 = 4. Then f(g(1)) = f(4) = 4^2 + 2 \\cdot 4 + 1 = "
             "16 + 8 + 1 = 25. Therefore, f(g(1)) = 25.",
    "gpt4o": "Step 1: f(g(x)) = (\\sqrt{x} + 3)^2 + 2(\\sqrt{x} + 3) + 1 = (\\sqrt{x} + 4)^2.\n"
             "Step 2: at x = 1, \\sqrt{1} = 1, so f(g(1)) = (1 + 4)^2 = 25.\n\n"
             "The value of the composite function at x = 1 is **25**.",
}
S3 = {
    "llama": "Here is a simple Tetris game in Python using pygame:\n\n```python\n"
             + DEAF_TETRIS + "\n```\n\nRun it with `python tetris.py`.",
    "gpt4o": "Below is a complete Tetris game written with pygame.\n\n```python\n"
             + WORKING_TETRIS + "\n```\n\nUse the arrow keys to move and rotate, space to drop.",
}
S4 = {
    "llama": "Action:\n'''\n[\n  {\"tool_name\": \"calculate_factorial\", \"parameters\": "
             "{\"n\": 10}},\n  {\"tool_name\": \"calculate_factorial\", \"parameters\": "
             "{\"n\": 8}}\n]\n'''",
    "gpt4o": "Action:\n'''\n[\n    {\n        \"tool_name\": \"calculate_factorial\",\n"
             "        \"parameters\": 10\n    },\n    {\n        \"tool_name\": "
             "\"calculate_factorial\",\n        \"parameters\": 8\n    }\n]\n'''",
}
S6 = {
    "llama": json.dumps({
        "Company Name": "Tech Innovation Co., Ltd.", "Year of Establishment": 2010,
        "Headquarters Address": "Timezone Technology Park, Melbourne",
        "Main Business Areas": "Artificial intelligence and big data (speech recognition, "
                               "computer vision, natural language processing)",
        "Number of Employees": "More than 500", "Percentage of R&D Personnel": "70%",
        "Annual Revenue": "Approximately 200 million AUD",
        "Contact Phone Number": "09812345678", "Email Address": "info@techcompany.com"},
        indent=2),
    "gpt4o": "```json\n" + json.dumps({
        "company_name": "Tech Innovation Co., Ltd.", "year_of_establishment": "2010",
        "headquarters_address": "Timezone Technology Park, Melbourne",
        "main_business_areas": ["Artificial intelligence", "Big data",
                                "Intelligent speech recognition", "Computer vision",
                                "Natural language processing"],
        "number_of_employees": "500+", "percentage_of_rd_personnel": "70%",
        "annual_revenue": "200 million AUD", "contact_phone_number": "09812345678",
        "email_address": "info@techcompany.com"}, indent=2) + "\n```",
}
S7 = {
    # Vaguer, fewer entities, and low-relevance ones such as "doctor" and "hospital".
    "llama": "```json\n" + json.dumps({
        "terms": ["chest pain", "type 2 diabetes", "ST-segment elevation",
                  "myocardial infarction"],
        "entities": ["patient", "doctor", "hospital", "metformin", "aspirin"],
        "relationships": [["patient", "has", "type 2 diabetes"]]}, indent=2) + "\n```",
    "gpt4o": "```json\n" + json.dumps({
        "professional_terms": ["type 2 diabetes", "ST-segment elevation", "troponin I",
                               "acute ST-segment elevation myocardial infarction (anterior wall)",
                               "antiplatelet therapy",
                               "percutaneous coronary intervention (PCI)"],
        "entities": {"patient": {"name": "Wang", "sex": "male", "age": 45},
                     "medications": ["metformin", "aspirin", "clopidogrel"],
                     "procedures": ["ECG", "PCI"]},
        "relationships": [
            {"subject": "metformin", "relation": "treats", "object": "type 2 diabetes"},
            {"subject": "aspirin", "relation": "antiplatelet therapy for",
             "object": "acute STEMI"},
            {"subject": "clopidogrel", "relation": "antiplatelet therapy for",
             "object": "acute STEMI"},
            {"subject": "PCI", "relation": "treats", "object": "acute STEMI"}]},
        indent=2) + "\n```",
}
S8 = {
    "llama": "As dawn breaks over the Alps, the sky shifts from deep indigo to soft pink. The "
             "snow-capped peaks catch the first light and glow gold, while mist lingers in the "
             "valleys below. The air is cold and still, and the only sound is a distant "
             "cowbell. Slowly the sun climbs over the ridge, and its light spills down the "
             "slopes, waking the pine forests and the meadows. Glaciers sparkle, lakes mirror "
             "the sky, and the whole range seems to come alive with colour. It is a moment of "
             "quiet beauty that stays with anyone lucky enough to witness it.",
    "gpt4o": "Before five the Matterhorn is only a blacker wedge against a slate sky. Then the "
             "summit catches fire: a rim of rose light runs down the east face while the "
             "Gorner glacier below still sleeps in blue shadow. Cowbells carry up from Zermatt, "
             "the air smells of frost and resin, and one by one the lesser peaks, the Dent "
             "Blanche, the Weisshorn, the Ober Gabelhorn, kindle like candles passed along a "
             "table. Alpenglow deepens from pink to molten gold; the snowfields blaze white; "
             "the lakes at Stellisee hold an upside-down mountain so still you could step into "
             "it. Finally the sun clears the eastern ridge, warmth touches your face, and the "
             "valley fills with ordinary daylight, the spell broken but remembered.",
}


def _action(calls: list[tuple[str, Any]]) -> str:
    payload = [{"tool_name": n, "parameters": p} for n, p in calls]
    return "Action:\n'''\n" + json.dumps(payload, indent=2) + "\n'''"


def _turns(body: dict[str, Any]) -> int:
    """How many assistant turns the conversation already holds."""
    return sum(1 for m in body["messages"] if m["role"] == "assistant")


def s5_action(model: str):
    def respond(body: dict[str, Any]) -> Reply | str:
        turn = _turns(body)
        if model == "llama":
            # Made-up values: the GCD is asked of 10 and 8, not of their factorials.
            if turn == 0:
                return _action([("calculate_factorial", {"n": 10}),
                                ("calculate_factorial", {"n": 8}),
                                ("calculate_gcd", {"a": 10, "b": 8})])
            return "The factorial of 10 is 3628800, the factorial of 8 is 40320, and their " \
                   "greatest common divisor is 2."
        if turn == 0:
            return _action([("calculate_factorial", 10), ("calculate_factorial", 8),
                            ("calculate_gcd", {"a": "factorial(10)", "b": "factorial(8)"})])
        return "10! = 3628800 and 8! = 40320, so their GCD is 40320."
    return respond


def s5_native(model: str):
    def respond(body: dict[str, Any]) -> Reply | str:
        turn = _turns(body)
        if model == "llama":
            if turn == 0:
                return Reply(tool_calls=[{"name": "calculate_factorial", "arguments": {"n": 10}},
                                         {"name": "calculate_factorial", "arguments": {"n": 8}},
                                         {"name": "calculate_gcd",
                                          "arguments": {"a": 10, "b": 8}}])
            return "The GCD of the two factorials is 2."
        if turn == 0:
            return Reply(tool_calls=[{"name": "calculate_factorial", "arguments": {"n": 10}},
                                     {"name": "calculate_factorial", "arguments": {"n": 8}}])
        if turn == 1:
            results = [m["content"] for m in body["messages"] if m["role"] == "tool"]
            a, b = (int(json.loads(r)) if r.strip().isdigit() else r for r in results[:2])
            return Reply(tool_calls=[{"name": "calculate_gcd", "arguments": {"a": a, "b": b}}])
        return "10! = 3,628,800 and 8! = 40,320; their greatest common divisor is **40320**."
    return respond


def script(server, model: str) -> None:
    """Teach a ScriptedServer to answer the seed prompts as `model` did."""
    server.script("Which is larger, 9.11 or 9.9?", S1[model])
    server.script("composite function", S2[model])
    server.script("Write a python Tetris game", S3[model])
    # The chained prompts first (they also contain the plain S4 sentence).
    server.script(r"Write \"Action:\"[\s\S]*greatest common divisor", match="regex",
                  field="all", respond=s5_action(model))
    server.script(r"^Please help me calculate the factorial of 10 and 8, and then", match="regex",
                  field="all", respond=s5_native(model))
    server.script(r"Write \"Action:\"[\s\S]*factorial of 10 and 8\.", match="regex",
                  respond=lambda body, m=model: S4[m])
    server.script("Please help me calculate the factorial of 10 and 8.", match="exact",
                  respond=lambda body: Reply(tool_calls=[
                      {"name": "calculate_factorial", "arguments": {"n": 10}},
                      {"name": "calculate_factorial", "arguments": {"n": 8}}]))
    server.script("Company Name, Year of Establishment", S6[model])
    server.script("extract professional terms", S7[model])
    server.script("sunrise scenery in the Alps", S8[model])


def judge_verdict(mode: str = "good"):
    """A judge that grades like a careful reader (`good`), or one that misbehaves (`bad`):
    an unparseable reply, an out-of-scale score, and a pairwise verdict that always picks
    the first answer shown, so the two orders disagree."""

    def respond(body: dict[str, Any]) -> str:
        prompt = body["messages"][-1]["content"]
        head = re.match(r"EVALSPEC-JUDGE mode=(\w+) rubric=(\S+)", prompt)
        assert head, prompt[:200]
        kind, rubric = head.groups()
        if kind == "pairwise":
            if mode == "bad":
                return json.dumps({"reasoning": "The first one reads well.", "preferred": "A"})
            a = re.search(r"<answer_a>\n(.*?)\n</answer_a>", prompt, re.S).group(1)
            preferred = "A" if "Matterhorn" in a else "B"
            return json.dumps({"reasoning": "More specific alpine detail and a clearer arc.",
                               "preferred": preferred})
        answer = re.search(r"<answer>\n(.*?)\n</answer>", prompt, re.S).group(1)
        if mode == "bad" and rubric.endswith("creative_writing"):
            if "Matterhorn" in answer:
                return json.dumps({"reasoning": "Superb.", "score": 9})
            return "I would rate this quite highly overall, it is lovely."
        score = 3
        if rubric.endswith("creative_writing"):
            score = 5 if "Matterhorn" in answer else 4
        elif rubric.endswith("playability"):
            score = 5 if "clock" in answer and WORKING_TETRIS[:400] in answer else 2
        elif rubric.endswith("medical_extraction"):
            score = 5 if "clopidogrel" in answer else 3
        return json.dumps({"reasoning": f"Graded against {rubric}.", "score": score})

    return respond
