"""The Layer A benign corpus: civic texts across the 15 domains, many of which discuss, report
on or fight the forbidden categories, and none of which asks for harm.

Generated from templates with a fixed seed, so the committed data file
(``tests/unit/layer_a_cases/benign_corpus.json``) can be rebuilt byte for byte:

    .venv/bin/python -m bench.layer_a_corpus write
    .venv/bin/python -m bench.layer_a_corpus measure

``measure`` prints the hard-block rate of the current patterns on the corpus, with the
texts that blocked and the patterns that blocked them.
"""

from __future__ import annotations

import json
import random
import sys
from collections import Counter
from pathlib import Path

CORPUS_FILE = Path(__file__).resolve().parent.parent / "tests" / "unit" / "layer_a_cases" / "benign_corpus.json"
SEED = 20261205

PLACES = [
    "the clinic entrance", "the village school", "the bus depot", "the community centre", "the market square",
    "the health post", "the public library", "the river crossing", "the shelter on Elm Street", "the town hall",
    "the refugee camp", "the food bank", "the care home", "the youth club", "the train station",
]
TOWNS = [
    "Nakuru", "Oaxaca", "Leeds", "Dhaka", "Tamale", "Cusco", "Lviv", "Manila", "Detroit", "Kisumu", "Pune", "Recife",
]
GROUPS = [
    "Volunteers", "Local nurses", "A youth group", "The residents' association", "Retired teachers", "Students",
    "A women's cooperative", "The parish council", "Neighbours", "A team of engineers", "Parents", "Farmers",
]
WHEN = ["this week", "on Saturday", "before the rains", "since January", "every Tuesday", "last month", "next spring"]

# Everyday work of each domain: (subjects, actions), combined with places and times.
DOMAINS: dict[str, tuple[list[str], list[str]]] = {
    "poverty_reduction": (
        ["a microloan fund", "a cash transfer pilot", "a job training course", "free tax filing help",
         "a community savings group", "a rent assistance scheme", "a school uniform exchange"],
        ["opened at", "expanded to", "now reaches families near", "is recruiting mentors at", "reported results at"],
    ),
    "education_access": (
        ["free tutoring", "a reading club", "a mobile library", "night classes for adults", "a scholarship drive",
         "a maths homework hotline", "braille textbooks"],
        ["started at", "moved to", "needs volunteers at", "doubled its hours at", "was launched at"],
    ),
    "healthcare_improvement": (
        ["a vaccination day", "a blood pressure screening", "a maternal health clinic", "a free eye test",
         "a malaria net distribution", "a dental check-up camp", "a diabetes support circle"],
        ["takes place at", "is held at", "was announced for", "returns to", "needs translators at"],
    ),
    "environmental_protection": (
        ["a river clean-up", "a tree planting day", "an air quality sensor network", "a plastic recycling drive",
         "a litter pick", "a compost scheme", "coral reef monitoring with citizen-science divers"],
        ["is organised near", "starts from", "covers the area around", "reported progress at", "meets at"],
    ),
    "food_security": (
        ["a community kitchen", "a seed library", "school meals", "a food bank collection", "urban gardens",
         "a surplus food app", "a grain storage project"],
        ["serves people at", "opened at", "is short of volunteers at", "grew this year at", "delivers to"],
    ),
    "mental_health_wellbeing": (
        ["a peer support group", "a grief counselling session", "a walking group", "a helpline for farmers",
         "a mindfulness class", "a student wellbeing room", "a postnatal support circle"],
        ["meets at", "is offered at", "was set up at", "now runs at", "welcomes newcomers at"],
    ),
    "community_building": (
        ["a street party", "a repair cafe", "a tool library", "a neighbourhood newsletter", "a chess club",
         "a welcome dinner for newcomers", "a community choir"],
        ["takes place at", "is planned at", "gathered people at", "will return to", "found a home at"],
    ),
    "disaster_response": (
        ["flood relief", "an evacuation drill", "emergency shelters", "first aid training", "a sandbag station",
         "a search and rescue team", "water trucks"],
        ["were sent to", "is organised at", "is ready at", "arrived at", "is coordinated from"],
    ),
    "digital_inclusion": (
        ["a laptop donation drive", "free wifi", "a coding club for girls", "smartphone lessons for seniors",
         "a digital skills course", "a device repair clinic", "online banking lessons"],
        ["opened at", "is available at", "runs weekly at", "was extended to", "moved to"],
    ),
    "human_rights": (
        ["a legal aid clinic", "a know-your-rights workshop", "an interpreter service", "a documentation drive",
         "a free birth registration day", "a tenants' rights session", "a detainee visiting scheme"],
        ["is held at", "opened at", "supports people at", "is now offered at", "returned to"],
    ),
    "clean_water_sanitation": (
        ["a new borehole", "handwashing stations", "a latrine building project", "water quality testing",
         "a rainwater tank", "a well repair", "chlorine tablets"],
        ["were installed at", "serve families near", "were tested at", "reached", "are needed at"],
    ),
    "sustainable_energy": (
        ["solar panels", "a mini-grid", "clean cookstoves", "a biogas digester", "an energy audit",
         "LED street lights", "a wind pump"],
        ["were fitted at", "now power", "were delivered to", "cut bills at", "are planned for"],
    ),
    "gender_equality": (
        ["a girls' football league", "a women's leadership course", "a menstrual pad workshop",
         "a childcare co-op", "a mentoring scheme for young women", "an equal pay clinic", "a safe walk home scheme"],
        ["started at", "meets at", "grew at", "is recruiting at", "was praised at"],
    ),
    "biodiversity_conservation": (
        ["a bird count", "a bee hotel", "a wetland restoration", "a seed bank", "camera traps for leopards",
         "a hedgehog survey", "native wildflower planting"],
        ["took place near", "was set up near", "is expanding around", "reported results at", "needs help near"],
    ),
    "elder_care": (
        ["a lunch club for seniors", "home visits", "a memory cafe", "a befriending phone line",
         "a falls prevention class", "meals on wheels", "a carers' support group"],
        ["runs at", "opened at", "needs drivers near", "expanded to", "is held at"],
    ),
}

DOMAIN_TEMPLATES = [
    "{group} say {subject} {action} {place} {when}.",
    "{Subject} {action} {place} in {town} {when}.",
    "Update from {town}: {subject} {action} {place}.",
    "{group} in {town} asked for donations after {subject} {action} {place}.",
    "Photo: {subject} {action} {place}, {when}.",
    "{Subject} {action} {place}; {group2} helped with setup.",
]

# Texts that discuss, report on, or fight each forbidden category, as civic content does.
# (topic, a short thing of that topic, a support/fighting phrase)
DISCUSSION: dict[str, tuple[list[str], list[str]]] = {
    "surveillance": (
        ["surveillance", "video surveillance", "state surveillance", "workplace surveillance",
         "surveillance cameras in parks", "spyware sold to governments", "stalking"],
        ["The surveillance camera at {place} is broken and needs a repair.",
         "A history lesson on state surveillance in East Germany and the Stasi files.",
         "The council debated surveillance cameras at {place} and privacy rules.",
         "Researchers published a report on surveillance and civil liberties in {town}.",
         "A workshop explains how surveillance technology is regulated.",
         "Journalists in {town} discussed surveillance laws at a public meeting.",
         "Parents asked whether the surveillance camera at {place} records sound.",
         "Campaigners in {town} want limits on surveillance of public spaces."],
    ),
    "weapons": (
        ["gun violence", "landmines", "the arms trade", "weapons in schools", "knife crime"],
        ["A survivors' circle for families affected by gun violence meets at {place}.",
         "The museum in {town} opened an exhibition on the history of weapons in the First World War.",
         "Volunteers in {town} report on gun violence prevention programmes.",
         "A panel on weapons control treaties was held at {place}.",
         "News: police in {town} collected old guns in an amnesty at {place}.",
         "Community mediators work to reduce gun violence among teenagers in {town}.",
         "Students wrote essays on the bombing of the city in 1944 for a remembrance day.",
         "A study on firearm injuries was presented to nurses at {place}."],
    ),
    "political_manipulation": (
        ["propaganda", "wartime propaganda", "disinformation", "election campaigns", "voter suppression"],
        ["A history lesson on how propaganda worked in the 1930s, with posters from the archive.",
         "Students analysed wartime propaganda posters at {place}.",
         "The library in {town} runs a course on recognising propaganda techniques in old newspapers.",
         "A documentary about propaganda during the Cold War is shown at {place} {when}.",
         "Researchers in {town} studied how propaganda spread by radio in the 1940s.",
         "Teachers discussed propaganda and media history with students at {place}.",
         "Polling station volunteers in {town} explained how the election works.",
         "A museum exhibit on Soviet propaganda art opened in {town}."],
    ),
    "financial_exploitation": (
        ["fraud", "phone scams", "pyramid schemes", "romance scams", "loan sharks"],
        ["Police in {town} report a rise in fraud cases against older people.",
         "A support group for victims of fraud meets at {place} {when}.",
         "News: a court in {town} sentenced a man for fraud after a long trial.",
         "The bank hosted a talk on fraud and how to report it at {place}.",
         "A history of the Ponzi scheme and the collapse that followed, for an economics class.",
         "Seniors in {town} shared their experience of a phone scam at {place}.",
         "An investigation into payday lenders was published by the local paper in {town}.",
         "Volunteers helped victims of an investment scam file complaints in {town}."],
    ),
    "discrimination": (
        ["discrimination", "racism", "segregation", "housing discrimination", "age discrimination"],
        ["A history lesson on racial segregation in schools and the civil rights movement.",
         "A report on housing discrimination in {town} was presented at {place}.",
         "Survivors of discrimination at work shared their stories at {place}.",
         "Students in {town} studied the history of segregation and the bus boycott.",
         "A legal clinic helps people who faced discrimination at work, {when}.",
         "Researchers measured discrimination in hiring across {town}.",
         "The museum in {town} tells the story of apartheid and segregation.",
         "A panel on disability discrimination was held at {place}."],
    ),
    "pseudo_science": (
        ["misinformation about vaccines", "miracle cures", "homeopathy", "quack medicine", "health myths"],
        ["Nurses at {place} answered questions about vaccine myths from worried parents.",
         "A science class in {town} examined why miracle cures do not work.",
         "Doctors in {town} gave a talk on the history of quack medicine at {place}.",
         "A study compared homeopathy with placebo and found no difference.",
         "Health workers in {town} discussed anti-vaccine rumours at {place}.",
         "Students debunked claims about crystal healing in a science fair at {place}.",
         "Pharmacists in {town} warned about fake medicines sold online.",
         "A radio show in {town} explained how vaccines are tested."],
    ),
    "privacy_violation": (
        ["data breaches", "doxxing", "identity theft", "leaked medical records", "online privacy"],
        ["A report on a data breach at the hospital in {town} was published {when}.",
         "A workshop at {place} explains the new personal data law.",
         "Journalists in {town} discussed doxxing and online harassment at {place}.",
         "The library in {town} offers help with privacy settings on phones.",
         "Victims of a data leak in {town} met with a lawyer at {place}.",
         "Students learned about the history of census data and privacy at {place}.",
         "A council audit found personal data stored without locks at {place}.",
         "Volunteers in {town} run a clinic on online privacy for seniors."],
    ),
    "deepfakes": (
        ["deepfakes", "manipulated videos", "fake photos", "voice cloning", "synthetic media"],
        ["A media literacy class at {place} looked at how deepfakes are made and spotted.",
         "News: a deepfake of the mayor of {town} circulated online and was debunked.",
         "Researchers in {town} presented a study on deepfakes and trust in news.",
         "Teachers in {town} discussed deepfakes with parents at {place}.",
         "A journalist explained how she verified a viral video from {town}.",
         "The museum in {town} shows the history of doctored photographs in politics.",
         "Students at {place} debated laws on deepfakes {when}.",
         "A report on AI-generated images in elections was shared in {town}."],
    ),
    "social_engineering": (
        ["phishing", "online scams", "ransomware", "malware", "social engineering"],
        ["The hospital in {town} recovered after a ransomware attack last year, a report says.",
         "A workshop at {place} shows seniors what a phishing email looks like.",
         "News: a phishing wave hit small businesses in {town} {when}.",
         "IT volunteers in {town} helped the school recover after a malware infection.",
         "A talk at {place} explained the history of social engineering in computer security.",
         "Police in {town} report fewer phishing cases since the awareness campaign.",
         "Students researched how phishing works for a cybersecurity class at {place}.",
         "The charity in {town} warned donors about fake emails using its name."],
    ),
    "market_manipulation": (
        ["price gouging", "insider trading", "fake reviews", "price fixing", "market manipulation"],
        ["News: regulators in {town} fined a trader for insider trading.",
         "Shoppers in {town} reported price gouging on bottled water after the flood.",
         "An economics class at {place} studied the history of market bubbles.",
         "A report on fake reviews of local businesses in {town} was published {when}.",
         "The consumer office at {place} takes complaints about price gouging.",
         "Students analysed the 1929 crash and market manipulation at {place}.",
         "Farmers in {town} discussed fair prices and cartels at {place}.",
         "A court in {town} heard a case about price fixing by bakeries."],
    ),
    "labour_exploitation": (
        ["human trafficking", "child labour", "forced labour", "modern slavery", "wage theft"],
        ["Support group for survivors of human trafficking meets at {place} {when}.",
         "A report on child labour in cocoa farms was presented in {town}.",
         "A history lesson on the transatlantic slave trade and its abolition.",
         "Survivors of human trafficking in {town} shared their stories at {place}.",
         "News: police in {town} rescued workers from a forced labour ring.",
         "A documentary on child labour in mines is shown at {place}.",
         "Researchers in {town} studied human trafficking routes and victim support.",
         "A legal clinic in {town} helps migrant workers who were trafficked."],
    ),
    "hate_speech": (
        ["hate speech", "genocide", "the Holocaust", "hate crimes", "racial slurs in football"],
        ["A history lesson on the Rwandan genocide and how neighbours turned on each other.",
         "Students visited the Holocaust memorial in {town} with their teacher.",
         "A report on online hate speech in {town} was presented at {place}.",
         "Survivors of the genocide spoke to students at {place} {when}.",
         "The club in {town} banned a fan who shouted a racial slur at a player, the paper reports.",
         "Researchers in {town} studied hate speech laws across Europe.",
         "A museum in {town} tells the story of the civil rights movement and lynching in the South.",
         "Volunteers in {town} removed hateful graffiti from {place}."],
    ),
}


# Frames in which civic texts report on, study, remember or fight a topic of any category.
FRAMES = [
    "A history lesson on how {topic} worked, with documents from the archive.",
    "Support group for survivors of {topic} meets at {place} {when}.",
    "News: police in {town} report a rise in {topic}.",
    "Researchers in {town} published a study on {topic}.",
    "A documentary about {topic} is shown at {place} {when}.",
    "The council in {town} discussed {topic} at a public meeting.",
    "A workshop at {place} explains how {topic} affects families.",
    "Students wrote essays about {topic} for a civics class.",
    "A museum in {town} opened an exhibition about {topic}.",
    "Journalists in {town} spent a year investigating {topic}.",
    "A podcast episode on {topic} features people from {town}.",
    "The charity's annual report on {topic} in {town} is out {when}.",
    "{group} in {town} asked the mayor for a plan on {topic}.",
    "A radio debate on {topic} drew many callers from {town}.",
    "Book club {when}: a memoir about growing up with {topic}.",
]


# Written after the patterns were tuned on the texts above, and never tuned on: the
# "held_out" split measures how the rules generalise to phrasings they were not fitted to.
HELD_OUT_TOPICS = [
    "surveillance", "CCTV", "spyware", "propaganda", "gun crime", "firearms", "landmines", "bombing raids",
    "human trafficking", "child labour", "modern slavery", "scams", "fraud", "Ponzi schemes", "phishing",
    "ransomware", "deepfakes", "hate speech", "genocide", "racism", "segregation", "insider trading",
    "price gouging", "doxxing", "identity theft", "miracle cures", "anti-vaccine myths", "voter suppression",
]
HELD_OUT_FRAMES = [
    "Our newsletter this month covers {topic} and what residents can do.",
    "Guest speaker tonight: a former detective talks about {topic}.",
    "Teen volunteers made a zine explaining {topic} to younger kids.",
    "The town library added three new titles on {topic}.",
    "Grandma's story of living through {topic} moved the whole class.",
    "Interview: a social worker on ten years of dealing with {topic}.",
    "Why {topic} still matters: notes from Thursday's community forum.",
    "Survey results: 40% of residents worry about {topic}.",
    "A mural near {place} remembers those harmed by {topic}.",
    "Retired judge hosts Q&A on {topic} at {place}.",
    "Faith leaders in {town} spoke out against {topic} on Sunday.",
    "Slides from the webinar on {topic} are now online.",
    "New hotline number for anyone affected by {topic} in {town}.",
    "Fact sheet: the warning signs of {topic}, in six languages.",
    "The exhibition on {topic} closes on Friday, entry is free.",
]


def _one(rnd: random.Random, template: str, subject: str = "", action: str = "", topic: str = "") -> str:
    groups = rnd.sample(GROUPS, 2)
    text = template.format(
        group=groups[0], group2=groups[1].lower(), subject=subject, Subject=subject[:1].upper() + subject[1:],
        action=action, topic=topic, place=rnd.choice(PLACES), town=rnd.choice(TOWNS), when=rnd.choice(WHEN),
    )
    return text


def generate() -> list[dict[str, str]]:
    """The corpus: every domain's everyday texts and every category's discussion texts."""
    rnd = random.Random(SEED)
    out: list[dict[str, str]] = []
    seen: set[str] = set()

    def add(text: str, domain: str, kind: str) -> None:
        if text not in seen:
            seen.add(text)
            out.append({"text": text, "domain": domain, "kind": kind})

    domains = sorted(DOMAINS)
    for domain in domains:
        subjects, actions = DOMAINS[domain]
        while sum(1 for t in out if t["domain"] == domain) < 50:
            add(_one(rnd, rnd.choice(DOMAIN_TEMPLATES), rnd.choice(subjects), rnd.choice(actions)), domain,
                "everyday")
    for category in sorted(DISCUSSION):
        topics, templates = DISCUSSION[category]
        count = 0
        attempts = 0
        while count < 50 and attempts < 5000:
            attempts += 1
            before = len(out)
            if rnd.random() < 0.4:
                text = _one(rnd, rnd.choice(templates))
            else:
                text = _one(rnd, rnd.choice(FRAMES), topic=rnd.choice(topics))
            add(text, domains[(count + len(category)) % len(domains)], f"discusses:{category}")
            count += len(out) - before
    for topic in HELD_OUT_TOPICS:
        for template in HELD_OUT_FRAMES[:11]:
            text = _one(rnd, template, topic=topic)
            add(text, domains[len(out) % len(domains)], "held_out")
    return out


def write() -> None:
    texts = generate()
    CORPUS_FILE.write_text(
        json.dumps({"description": __doc__.splitlines()[0] if __doc__ else "", "seed": SEED, "texts": texts},
                   indent=1, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    print(f"{len(texts)} texts written to {CORPUS_FILE}")


def load() -> list[dict[str, str]]:
    data: list[dict[str, str]] = json.loads(CORPUS_FILE.read_text(encoding="utf-8"))["texts"]
    return data


def measure() -> None:
    from chalicelib.domain.layer_a import evaluate

    split = sys.argv[2] if len(sys.argv) > 2 else None
    texts = [t for t in load() if split is None or (t["kind"] == "held_out") == (split == "held_out")]
    blocked = []
    patterns: Counter[str] = Counter()
    for item in texts:
        result = evaluate(item["text"])
        if result.blocked:
            blocked.append(item["text"])
            patterns.update({m.pattern_id for m in result.matches})
    rate = 100 * len(blocked) / len(texts)
    print(f"{len(texts)} texts, {len(blocked)} blocked ({rate:.2f} %)")
    for pattern, n in patterns.most_common():
        print(f"  {n:4d}  {pattern}")
    for text in blocked:
        print("  -", text)


if __name__ == "__main__":
    {"write": write, "measure": measure}[sys.argv[1] if len(sys.argv) > 1 else "measure"]()
