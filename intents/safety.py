"""The safety check that runs on every utterance before any other understanding.

It looks for disclosures of violence, threats, strangulation, being trapped or cut off, sexual
coercion, and suicide or self-harm. Missing one is far worse than a false alarm, so the rules are
broad: harm words near "me" in any order of tense, weapons, fear of a partner, and the many ways
people say they do not want to live. A short list of everyday idioms ("pushes me away", "I could
kill for a coffee", "it hit me that...") is removed first so ordinary talk does not raise alarms.

Speech recognisers mishear, so there is a second, fuzzy pass: the transcript is compared with
crisis prototypes by how the words sound (see `_fuzzy_crisis`).

Coercive control that is not an emergency (checking the phone, controlling money, tracking) is a
separate, lower level: the coach answers it honestly as control and gives the abuse hotline.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from intents.disclosures import PROTOTYPES, crisis_corpus
from intents.phonetics import sound_similarity
from intents.semantic import Closeness, Meaning

log = logging.getLogger(__name__)

DANGER = "danger"  # a disclosure of danger: the crisis answer
UNSURE = "unsure"  # it may be one: the coach asks before it either answers or ignores it
CONTROLLING = "control"  # coercive control that is not an emergency
SAFE = "safe"
_DISCLOSURES = "disclosures"  # the learned check's group of written disclosures


@dataclass(frozen=True, slots=True)
class SafetyFinding:
    level: str  # DANGER, CONTROLLING or SAFE
    category: str = ""  # violence, threat, strangulation, trapped, sexual, self_harm, fear, ...
    evidence: str = ""  # the words that triggered it
    firm: bool = True  # False: found by a sign or a figurative word; the meaning may overrule

    @property
    def is_crisis(self) -> bool:
        return self.level == DANGER

    @property
    def is_doubtful(self) -> bool:
        return self.level == UNSURE


NOTHING = SafetyFinding(SAFE)


def _words(*forms: str) -> str:
    return "(?:" + "|".join(forms) + ")"


# Inflected forms of physical harm. "hurt" and "harm" are handled apart: "he hurt me" is
# usually about feelings, "he is going to hurt me" is not.
_HARM = _words(
    r"hit(?:s|ting)?", r"punch(?:ed|es|ing)?", r"slap(?:ped|s|ping)?", r"kick(?:ed|s|ing)?",
    r"shov(?:e|ed|es|ing)", r"push(?:ed|es|ing)?", r"beat(?:s|ing|en)?", r"smack(?:ed|s|ing)?",
    r"whack(?:ed|s)?", r"chok(?:e|ed|es|ing)", r"strangl(?:e|ed|es|ing)", r"throttl(?:e|ed|es)",
    r"grab(?:bed|s|bing)?", r"pin(?:ned|s|ning)?", r"twist(?:ed|s|ing)?",
    r"burn(?:ed|t|s|ing)?", r"bit(?:e|es|ten|ing)?", r"attack(?:ed|s|ing)?",
    r"assault(?:ed|s|ing)?", r"stab(?:bed|s|bing)?", r"shoot(?:s|ing)?", r"shot",
    r"drag(?:ged|s|ging)?", r"squeez(?:e|ed|es|ing)", r"spit|spat", r"headbutt(?:ed|s)?",
    r"elbow(?:ed|s)?", r"slam(?:med|s|ming)?", r"shak(?:e|es|ing)|shook", r"threw|throws?",
    r"rap(?:e|ed|es|ing)", r"abus(?:e|ed|es|ing)", r"bruis(?:e|ed|es|ing)",
    r"scratch(?:ed|es)?", r"suffocat(?:e|ed|es|ing)", r"smother(?:ed|s)?",
    r"kne(?:e|ed|es|eing)", r"grop(?:e|ed|es|ing)", r"strangl(?:e|ed|es|ing)",
)
_HURT = _words(r"hurt(?:s|ing)?", r"harm(?:ed|s|ing)?", r"kill(?:ed|s|ing)?",
               r"murder(?:ed|s)?", r"shoot", r"stab", r"beat", r"hit", r"get", r"do")
# Body parts someone else can injure; "stepped on my hand" is harm, "on my nerves" is not.
_BODY = _words(r"head", r"neck", r"face", r"throat", r"hands?", r"fingers?", r"arms?", r"legs?",
               r"ribs?", r"stomach", r"chest", r"wrists?", r"jaw", r"nose", r"eyes?", r"back",
               r"body", r"skin")
# People and pets in someone's care.
_PERSON = _words(r"kids", r"children", r"son", r"daughter", r"baby", r"babies", r"dog", r"cat",
                 r"mum", r"mom", r"mother", r"dad", r"father", r"sister", r"brother", r"friend",
                 r"nan", r"gran", r"grandma", r"grandad", r"family", r"unborn baby", r"boy",
                 r"girl", r"puppy", r"kitten", r"pet")
# "my" alone is not a target ("shot my best round", "beat my time"): my body, or my people.
_TARGET = _words(r"me", r"us", rf"my (?:\w+ )?{_BODY}", rf"my (?:little |baby |eldest |youngest )?"
                 rf"{_PERSON}", rf"our (?:\w+ )?{_PERSON}", rf"the {_PERSON}")
_PARTNER = _words(r"he", r"she", r"they", r"him", r"her", r"them",
                  r"my (?:partner|husband|wife|boyfriend|girlfriend|ex|fiance|fiancee|spouse)")
_FUTURE = _words(r"going to", r"will", r"would", r"might", r"could", r"wants? to", r"tried to",
                 r"trying to", r"threaten(?:ed|s|ing)? to", r"swore to", r"promised to",
                 r"said (?:he|she|they) would", r"is about to")
_WEAPON = _words(r"guns?", r"knife", r"knives", r"weapons?", r"rifle", r"pistol", r"blade",
                 r"bat", r"hammer", r"machete", r"axe", r"crossbow", r"shotgun")

# Seeing people, and the means of reaching them: keeping a person from these isolates them.
_ANYONE = (r"see (?:my |our )?(?:friends|family|parents|mum|mom|dad|mother|father|sister|brother|"
           r"kids|children|son|daughter|doctor|anyone|anybody|people|them)")
_CONTACT = r"(?:friends|visitors|a phone|my phone|my keys|my passport|contact with \w+)"

# Everyday idioms that use the words above without violence.
# Things, not people: subjects after which "killed me" or "is killing me" is a figure of speech.
_PEOPLE = (r"(?:he|she|they|him|her|them|husband|wife|partner|boyfriend|girlfriend|ex|man|guy|"
           r"woman|father|dad|mother|mum|mom|brother|sister|son|daughter|fiance|fiancee|"
           r"spouse|someone|somebody|daddy|stepdad|stepfather|uncle|cousin)")
_THING_NOUNS = (r"(?:news|joke|hike|walk|run|workout|gym|class|film|movie|show|heat|traffic|"
                r"commute|wait|suspense|noise|barking|bill|price|week|day|job|work|deadline|"
                r"deadlines|cold|flu|hangover|stairs|boss|back|feet|head|knees|legs|shoes|kids|"
                r"children|neighbours|neighbors|exam|exams|essay|project|weather|humidity)")
_THINGS = (rf"(?:(?:that|this|the|my|those|these|our) {_THING_NOUNS}|{_THING_NOUNS}|that|this|"
           rf"it)")
_IDIOMS = [
    r"push(?:ed|es|ing)? (?:me|us) away", r"pushing (?:me|us) away",
    r"push\w* (?:my|our|his|her) buttons",
    r"push(?:es|ed|ing)? me to (?:be|do|talk|open)", r"it (?:just |really )?hit me",
    r"hit (?:me|us) up", r"hit a (?:rough|bad|low|wall|rocky)", r"hits? the roof",
    r"beat (?:me|us) to (?:it|the punch)", r"beat (?:me|us) at", r"grab (?:me|us) (?:a|some)",
    r"shot (?:me|us) a (?:look|text|message)", r"thr(?:ew|ow|ows) (?:me|us) off (?:guard|track)",
    r"shook (?:me|us) up", r"(?:really |it )shook me", r"twist(?:ed|s|ing)? my words",
    r"(?:been|got|get) burn(?:ed|t)(?: before| in the past)?", r"bit(?:e|es)? my head off",
    r"attack(?:ed|s|ing)? my (?:character|ideas|opinions|choices)",
    r"squeez(?:e|ed) (?:me|us) in", r"kill for", r"dying to", r"killing it",
    r"hurt my feelings", r"shak(?:e|es|ing) my (?:head|hand)",
    r"my (?:phone|battery) (?:is )?dying", r"beat(?:s|ing)? myself up",
    r"knocked me off my feet", r"guilt trip\w*",
    rf"{_THINGS} (?:nearly |almost |absolutely |totally |literally |really )?"
    rf"(?:killed|kills|hit|knocked) (?:me|us)\b",
    # "this argument is killing me", "the neighbour's dog is killing me": anything but a person
    rf"(?:(?:the|this|that|my|our|all|these|those) )?(?!{_PEOPLE}\b)[a-z]+"
    rf"(?: (?!{_PEOPLE}\b)[a-z]+)? "
    r"(?:is|are) (?:really |literally |slowly )?killing (?:me|us)(?! slowly)",
    r"killing me softly", r"hit me with your best shot", r"hit me baby",
    r"smother\w* (?:me|us) with (?:love|kisses|attention|affection|hugs)",
    r"stab\w* (?:me|us) in the back",
    r"push\w* (?:me|us) (?:to|into) (?:apply|start|try|go|do|be|take|get|talk|open|see|join|"
    r"quit|change|run|study|exercise|work|ask|sign|enter|make)",
    r"drag\w* (?:me|us) (?:(?:round|around|along)(?! by)|to (?:his|her|their|the) (?:\w+ )?"
    r"(?:party|"
    r"shops?|mall|wedding|match|game|concert|work|office|meeting|dinner|family|gym|church))",
    r"thr(?:ew|ow|ows|own) (?:me|us) a (?:\w+ )?(?:party|bone|curveball|lifeline|look)",
    r"thr(?:ew|ow|ows|own) (?:a|the) (?:ball|stick|frisbee|toy)",
    r"thr(?:ew|ow|ows|own) (?:away|out) (?:my|our)", r"grab\w* my hand\b",
    # accidents, and small creatures (not "my baby's father")
    r"\bi (?:accidentally )?(?:bruised|hit|slammed|banged|bumped|stubbed|twisted|sprained|"
    r"broke|trapped|caught) my (?:knee|head|toe|finger|fingers|thumb|hand|ankle|elbow|shin|"
    r"arm|leg|wrist|foot|back)",
    r"(?:the|our|my) (?:baby|cat|dog|puppy|kitten|toddler|hamster|parrot|horse) "
    r"(?:bit|scratched|kicked|hit|grabbed|pushed|bites|scratches|kicks)",
    r"pin(?:ned)? (?:me|it) down to a (?:time|date|plan)",
    # "she'll kill me if i forget the milk": hyperbole about a mundane slip, unless what
    # follows is leaving, telling or reporting (then it is a threat, and no idiom)
    r"(?:kill|murder|strangle|throttle|slaughter)s? (?:me|us) (?:for|if (?:i|we)|when "
    r"(?:i|we|she|he|they)) (?!(?:\w+ ){0,3}(?:leave|left|leaving|tell|telling|told|police|"
    r"cops|report|divorce|break up|breaking up|see (?:my|anyone|him|her)|go to)\b)",
    r"(?:boss|manager|teacher|coach|editor|landlord|tutor|supervisor|lecturer) (?:\w+ ){0,4}"
    r"(?:kill|murder|strangle|slaughter|throttle)",
    r"beat (?:me|us|him|her|them|my \w+) (?:at|in) (?:a |the )?(?:\w+ )?(?:game|match|race|"
    r"tennis|chess|cards|scrabble|golf|pool|darts|squash|football|monopoly|quiz|poker|"
    r"running|swimming|wrestling)",
    r"(?:nearly|almost) choked on (?:my|a|the|his|her) (?:food|drink|coffee|tea|water|dinner|"
    r"lunch|breakfast|bone|sweet|crisps?)",
    r"choked up", r"hit (?:a|the) (?:deer|fox|kerb|curb|pothole|bollard|post|wall|ball|shot|"
    r"road|ground|gym|shops|hay|sack|jackpot|target|nail)",
]
_IDIOM_RE = re.compile(r"\b(?:" + "|".join(_IDIOMS) + r")\b")

_CRISIS_RULES: list[tuple[str, str]] = [
    # --- suicide and self-harm
    ("self_harm", r"\b(?:kill|killing|hurt|hurting|harm|harming|cut|cutting|burn|burning|"
                  r"starv\w*|punish\w*) myself\b"),
    ("self_harm", r"\bsuicid\w*"),
    ("self_harm", r"\b(?:end|ending|take|taking) (?:my (?:own )?life|it all|things|everything|my "
                  r"life)\b"),
    ("self_harm", r"\b(?:want|wanted|wanting|going) to die\b"),
    ("self_harm", r"\b(?:wish|wished) i (?:was|were|had been) (?:dead|never born|gone)\b"),
    ("self_harm", r"\bbetter off (?:dead|without me|if i (?:was|were|am|had) (?:gone|dead|not "
                  r"here|never))"),
    ("self_harm", r"\b(?:not|never|no longer) want to (?:live|be alive|be here|exist|wake up|go "
                  r"on)\b"),
    # Recognisers often lose "don't" ("i want to be here anymore"), and the phrases below are
    # only ever said in the negative, so they count without it; "live" is often heard "leave".
    ("self_harm", r"\bwant to (?:live|leave|be here|be alive|exist|go on) any ?more\b|"
                  r"\bto (?:live|be alive|exist) any ?more\b"),
    ("self_harm", r"\bsee (?:the|any) point (?:in|of) (?:living|life|going on)\b"),
    ("self_harm", r"\b(?:no|not any|not see the|not see any|lost the) (?:point|reason|will) "
                  r"(?:in|to|of|for) (?:living|live|life|going on|go on|being here|be here)"),
    ("self_harm", r"\b(?:thinking|thought|thoughts|think) (?:about|of) (?:dying|death|not being "
                  r"here|ending it|being dead)"),
    ("self_harm", r"\b(?:take|taking|took|swallow\w*) (?:all|a bunch of|a bottle of|the whole "
                  r"bottle of) (?:my |the |those |these )?(?:pills|tablets|medication)"),
    ("self_harm", r"\boverdos\w*"),
    ("self_harm", r"\bjump(?:ing)? (?:off|in front of)\b"),
    ("self_harm", r"\b(?:can not|can't) go on (?:like this|living|anymore|any more)"),
    ("self_harm", r"\bdisappear (?:forever|for good)\b"),
    ("self_harm", r"\b(?:can not|cannot|do not think i can|not sure i can) (?:keep going|go on|"
                  r"do this any ?more|take (?:it|this) any ?more|carry on)\b"),
    ("self_harm", r"\b(?:no|any|a) reason to (?:keep going|go on|live|stay alive|carry on)\b"),
    ("self_harm", r"\b(?:still )?be (?:here|around|alive) (?:tomorrow|next week|much longer)\b"),
    ("self_harm", r"\blast time (?:you|anyone|you all|everyone) (?:will )?hear from me\b|"
                  r"\bpoint of me\b|\b(?:my|imagining my|planning my) own funeral\b"),
    ("self_harm", r"\b(?:rather|prefer to) (?:be dead|die|not be alive|not exist|not be here)\b"),
    ("self_harm", r"\b(?:better|happier|easier) (?:off )?(?:for everyone )?(?:if|without) (?:me|i "
                  r"(?:was|were|am|was not|were not|am not|had not) (?:\w+ )?(?:around|here|alive|"
                  r"gone|born))"),
    ("self_harm", r"\b(?:no one|nobody|no body) would (?:even )?(?:miss|notice|care)\b"),
    ("self_harm", r"\bif i (?:was|were) (?:gone|dead|not here|not around|no longer here)\b"
                  r"(?! (?:for|on|to|at|over|during|until|till|while|away|out|abroad)\b)"),
    ("self_harm", r"\b(?:never|not) wake up\b"),
    ("self_harm", r"\bnothing matters any ?more\b|\bi am ready to die\b|"
                  r"\b(?:want to|so i can|so i could|wish i could|going to|could just|can just) "
                  r"(?:just )?(?:fade|waste|slip) away\b|\bstopped eating so\b"),
    ("self_harm", r"\b(?:googl\w*|look\w* up|search\w*|research\w*|reading up on) (?:\w+ ){0,2}"
                  r"(?:how to do it|how to die|ways to die|ways to do it|how to end it|painless|"
                  r"how many pills|how much it takes)\b"),
    ("self_harm", r"\b(?:goodbye|suicide) (?:letters?|notes?)\b|\bgiving away my (?:things|stuff)"),
    ("self_harm", r"\b(?:until|till) (?:they|it|i) bleeds?\b|\b(?:cut|cutting|scratch\w*|burn\w*) "
                  r"my (?:arms?|wrists?|legs?|skin|thighs?)\b"),
    # --- threats, including weapons and threats of suicide used as control
    ("threat", r"\bthreat\w*\b.*\b(?:kill|hurt|harm|beat|hit|shoot|stab|take the kids|take my "
               r"kids|burn|destroy)"),
    ("threat", rf"\b{_FUTURE} (?:\w+ )?(?:kill|murder|shoot|stab|strangle|choke|beat|hit|hurt|"
               rf"harm|break) (?:me|us|you|the kids|my|our)"),
    ("threat", r"\b(?:kill|killed|killing) (?:me|us|the kids|himself|herself|themselves)\b"),
    ("threat", rf"\b{_WEAPON}\b.*\b(?:me|us|at|threat\w*|point\w*|wav\w*|remind\w*|keeps?|has|"
               rf"pulled|held|hold\w*)\b|\b(?:has|have|had|got|keeps?|pulled|pointed|held)\b.*"
               rf"\b{_WEAPON}\b"),
    ("threat", r"\b(?:he|she|they) (?:will|would|is going to) (?:hurt|harm|kill) "),
    ("threat", r"\b(?:leave|get out of|make it out of|walk out of) (?:\w+ ){0,3}alive\b"),
    ("threat", r"\bnever see (?:the|my|our|your) (?:kids|children|son|daughter|baby) again\b"),
    ("threat", r"\b(?:i would|i will|you will|you would|i am going to) regret it\b|"
               r"\b(?:ones|one) who (?:will )?pay\b|\bmake sure i never\b"),
    ("threat", r"\bnext time (?:it is|it will be|it would be|will be) "
               r"(?:me|you|your face|my face)"),
    ("threat", r"\b(?:punch\w*|kick\w*|smash\w*) (?:a |the )?(?:hole|holes) in\b|\b(?:punch\w*|"
               r"kick\w*|smash\w*) (?:the|a) (?:wall|door|window)s?\b"),
    # --- physical violence
    ("violence", rf"\b{_HARM} (?:\w+ ){{0,3}}{_TARGET}\b"),
    ("violence", rf"\b{_PARTNER} (?:hurts|keeps hurting|is hurting) (?:me|us|the kids)\b"
                 r"(?! (?:feelings|when (?:he|she|they) (?:lied|lies|cheated)))(?!$)"),
    ("violence", r"\bi (?:was|got|have been|am being|been|get) (?:\w+ )?"
                 r"(?:hit|punched|slapped|kicked|shoved|pushed|beaten|beat up|choked|strangled|"
                 r"raped|assaulted|attacked|abused|stabbed|burned|bitten|grabbed|thrown)\b"),
    ("violence", r"\b(?:bruises|black eye|broken (?:arm|nose|rib|wrist)|bleeding|hit me)\b"),
    ("violence", r"\b(?:hurt|hurts|hurting|harm\w*) (?:me|us|the kids|my) "
                 r"(?:\w+ )?(?:physically|badly|bad|again|when he|when she|last night)"),
    ("violence", r"\b(?:physically|physical) (?:hurt\w*|abus\w*|violent|attack\w*|harm\w*|"
                 r"aggressive|hit\w*)|\b(?:gets?|got|getting) physical\b|\bviolen(?:t|ce)\b"),
    ("violence", r"\b(?:beat|beats|beating) (?:me|us|her|him) up\b|\bbeat up\b"),
    ("violence", r"\b(?:by|bye) (?:my|the|her) (?:hair|throat|neck)\b|"
                 r"\b(?:he|she|they) (?:\w+ )?pull\w* (?:out )?my hair\b"),
    ("violence", rf"\b(?:stomp\w*|stamp\w*|step(?:ped|s)? on|chop\w*|stub\w* (?:\w+ ){{0,2}}out "
                 rf"on|put (?:\w+ ){{0,2}}out on) (?:\w+ ){{0,2}}(?:my|me|on) (?:\w+ )?{_BODY}\b|"
                 r"\bkarate chop\w*|\b(?:he|she) (?:stomp|stamp)(?:ed|s)? on\b"),
    # Verbs with everyday senses ("a crush on", "knocked on my door", "a birthday bash") count
    # only with a person or a body part as the object.
    ("violence", rf"\b(?:bash|crush|smash|bang|slam)(?:ed|es|s|ing|med|ming)? (?:my|his|her) "
                 rf"(?:\w+ )?{_BODY}\b|\b(?:bash|crush)(?:ed|es|ing)? (?:me|us)\b|\bknock\w* "
                 r"(?:me|us) (?:down|over|out|to the|into|against|unconscious|senseless)\b"),
    ("violence", r"\b(?:my )?(?:arm|wrist|nose|jaw|rib|ribs|finger|fingers|leg|tooth|teeth|"
                 r"cheekbone) (?:is|are|was|were|got) broken\b"),
    # Covering for injuries: "i told the doctor i fell", "lied to the nurse about my arm".
    ("violence", r"\b(?:lie|lied|lying) to (?:the |my )?(?:doctor|doctors|nurse|hospital|police|"
                 r"teacher|school)s? about\b|\btold (?:the |my )?(?:doctor|nurse|hospital|"
                 r"police|everyone|my (?:mum|mom|family)) i (?:fell|walked into|tripped)"),
    ("violence", r"\b(?:would not|will not|did not|refused to|never) stop (?:\w+ ){0,3}(?:even )?"
                 r"(?:when|while|though|after) i (?:was|am|were|kept|started) (?:crying|screaming|"
                 r"begging|saying no|telling (?:him|her) to stop|asking (?:him|her) to stop)"),
    # --- strangulation
    ("strangulation", r"\b(?:hands?|arms?|fingers|rope|belt|cord) (?:\w+ )?(?:around|round|on|"
                      r"over) my (?:neck|throat|mouth|face)\b"),
    ("strangulation", r"\bby (?:the|my) (?:throat|neck)\b"),
    ("strangulation", r"\b(?:couldn't|could not|can not|can't) breathe\b.*\b(?:he|she|his|her|"
                      r"neck|throat|pillow|hands)\b|\b(?:he|she|his|her|neck|throat|pillow|"
                      r"hands)\b.*\b(?:couldn't|could not) breathe\b"),
    ("strangulation", r"\b(?:passed|black(?:ed)?) out\b.*\b(?:he|she|neck|throat|choke\w*)|"
                      r"\bstrangl\w*|\bchok(?:e|ed|es|ing) (?:me|her|him|us|my|the kids)\b|"
                      r"\bi (?:was|got|am being) chok\w*"),
    # --- trapped or cut off
    ("trapped", r"\block(?:s|ed|ing)? (?:me|us) (?:\w+ )?(?:in|out|up|inside)\b"),
    ("trapped", r"\b(?:locked|trapped|stuck) (?:in|inside) (?:the|a|my|our|his|her) "
                r"(?:house|home|room|bedroom|bathroom|basement|car|apartment|flat|closet)"),
    ("trapped", r"\bkeeps? (?:me|us) (?:locked|lock|lack|shut) (?:in|up|inside)\b"),
    ("trapped", rf"\b(?:not|never|refuses? to|refused to) let (?:me|us) (?:\w+ )?(?:leave|go|out|"
                rf"{_ANYONE}|talk|call|visit|have {_CONTACT}|use (?:the|my|a) phone|get up|"
                r"sleep|eat|work|speak|text)\b"),
    ("trapped", rf"\bnot allowed to (?:leave|{_ANYONE}|go|talk|call|visit|have {_CONTACT}|work|"
                r"speak|text)"),
    # "won't let me" is often heard as "will let me"; the phrase is nearly always about control.
    ("trapped", r"\blet (?:me|us) (?:leave|see my (?:friends|family|parents|sister|brother|kids)|"
                r"go out|out of the house)\b"),
    ("trapped", r"\b(?:took|takes|taken|take|hid|hides|hidden|stole|steals|smashed|broke|keeps|"
                r"kept) (?:away )?(?:all )?my (?:phone|keys|car keys|passport|id|wallet|documents|"
                r"papers|car)\b"),
    # "caught" and "lack" are how a recogniser often hears "cut" and "locked" here.
    ("trapped", r"\b(?:cut|cuts|cutting|caught) (?:me|us) off from\b|\bisolat\w* (?:me|us)\b"),
    ("trapped", r"\bkeeps? (?:me|us) (?:away )?from (?:my|seeing|leaving|going|everyone|"
                r"talking)"),
    ("trapped", r"\b(?:can not|cannot) leave (?:the house|home|the room|without (?:him|her))"),
    ("trapped", r"\bwhen (?:i|we) (?:try|tried) to leave\b"),
    ("trapped", r"\b(?:hostage|prisoner)\b"),
    # --- sexual coercion
    ("sexual", r"\brap(?:e|ed|es|ing|ist)\b"),
    ("sexual", r"\b(?:sold|sells|posted|posts|shared|shares|sent|sends|put|puts|uploaded) (?:\w+ )?"
               r"(?:pictures|photos|videos?|nudes|images|footage) of me\b"),
    ("sexual", r"\btouch\w* me\b.*\b(?:told|asked|begged) (?:him|her|them) (?:not to|to stop)"),
    ("sexual", r"\bsexual(?:ly)? (?:assault\w*|abus\w*|coerc\w*|forc\w*)"),
    ("sexual", r"\bforc(?:e|ed|es|ing) (?:me|himself|herself|themselves) (?:\w+ )?(?:to|on|into|"
               r"onto)\b"),
    ("sexual", r"\b(?:make|makes|made|making|pressur\w*|coerc\w*|guilt\w*|force\w*) (?:me|us) "
               r"(?:\w+ )?(?:have sex|into sex|sleep with|do sexual|do things|to have sex)"),
    ("sexual", r"\b(?:sex|touch\w*|things to me|on me|sexual)\b.*\b(?:when|after|even though|"
               r"even when|although) i (?:say|said|tell|told|keep saying) (?:\w+ )?(?:no|stop)\b"),
    ("sexual", r"\bsex\w* (?:\w+ ){0,4}(?:my duty|my job|owe (?:him|her)|no choice|(?:do not|"
               r"never) (?:get|have) a (?:choice|say))\b|\b(?:duty|owe (?:him|her)) (?:\w+ ){0,3}"
               r"sex\b"),
    ("sexual", r"\b(?:never (?:agreed|consented)|without (?:my )?consent|did not consent|"
               r"do not consent)\b"),
    ("sexual", r"\b(?:while|when) i (?:am|was) (?:asleep|sleeping|passed out|unconscious)\b.*"
               r"\b(?:does|did|touch\w*|sex|things)\b|\b(?:does|did|touch\w*|sex|things)\b.*"
               r"\b(?:while|when) i (?:am|was) (?:asleep|sleeping|passed out|unconscious)\b"),
    # --- fear for safety
    ("fear", rf"\b(?:scared|afraid|terrified|frightened|fear\w*) (?:of |that |for )?(?:what )?"
             rf"{_PARTNER} (?:\w+ ){{0,2}}(?:will|would|might|could|is going to|going to|"
             rf"gonna) (?:do|hurt|harm|kill|hit|beat|find)"),
    ("fear", r"\b(?:scared|afraid|terrified|frightened) (?:to go|of going) home\b"),
    ("fear", rf"\b(?:scared|afraid|terrified|frightened) {_PARTNER} (?:will|would|is going to|"
             rf"might) (?:snap|lose it|explode|come back|find me|find us)\b"),
    ("fear", r"\b(?:fled|flee|fleeing|escaped|run away from) (?:my|our|the) (?:home|house|flat)\b|"
             r"\bhiding in the \w+ with me\b|\block the kids\w* (?:door|room) and wait\b"),
    ("fear", r"\b(?:fear|afraid|scared|terrified) for (?:my|our) (?:life|lives|safety|kids|"
             r"children)\b"),
    ("fear", r"\b(?:not|never|no longer) (?:feel )?safe (?:at home|with (?:him|her|them|my)|in "
             r"(?:my|our|this) (?:own )?(?:home|house))"),
    ("fear", r"\bcoming after (?:me|us)\b|\b(?:stalk\w*|follow(?:s|ed|ing)) (?:me|us)\b"),
    ("fear", r"\bhiding from (?:him|her|them|my (?:partner|husband|wife|boyfriend|girlfriend|"
             r"ex))\b|\bhiding in the \w+ (?:because|from|until|so) (?:he|she|they)\b"),
    ("fear", r"\b(?:scared|afraid|terrified) (?:of )?(?:him|her|them|my partner|my husband|"
             r"my wife|my boyfriend|my girlfriend)\b"),
]
_CRISIS_RULES += [
    # --- fear of a partner, said softly
    ("unease", rf"\b(?:scared|afraid|frightened|terrified|nervous|worried|anxious|dread\w*) "
             rf"(?:\w+ ){{0,4}}(?:what|how) {_PARTNER} (?:will|would|might|could|is going to)? ?"
             r"(?:do|react|say|be like)\b"),
    ("unease", rf"\b(?:scared|afraid|frightened|terrified) (?:to|of) (?:disagree\w*|say\w* no|"
             rf"argu\w*|tell\w* (?:him|her)|speak\w* up|upset\w* {_PARTNER})\b"),
    ("unease", r"\bwalk\w* on egg ?shells\b|\btiptoe\w* around (?:him|her|them|my)\b|"
             r"\bdread\w* (?:him|her) (?:coming|getting) (?:home|back)\b"),
    ("unease", rf"\bcareful what i (?:say|do) or {_PARTNER} (?:will|would|gets|goes)\b|"
             r"\bkeep the peace because\b|\bwhat happens (?:when|if) i (?:do not|don't|say no)\b"),
    # --- threats about leaving, and consequences for seeing people
    ("threat", r"\bif i (?:ever )?(?:leave|left|walk out|try to leave|go|tell|see|break up|broke "
               r"up|end it|ended it|split up|packed my bags|pack my bags)\b.*\b(?:he|she|"
               r"they) (?:will|would|is going to|said|"
               r"says|told|warned|threatened)\b|\b(?:said|says|told me|warned|threatened|swore) "
               r"(?:\w+ ){0,6}if i (?:ever )?(?:leave|left|walk out|try to leave|tell anyone|go to "
               r"the police|see|break up|broke up|end it|ended it|split up)\b"),
    ("threat", r"\bnobody leaves (?:him|her)\b|\bmake (?:me|us) pay\b|\bget what is coming\b|"
               r"\b(?:i|you) (?:will|would) be sorry\b|\b(?:there will|there "
               r"would) be consequences\b"),
    # --- being watched or tracked, as a threat
    ("surveillance", r"\b(?:tracker|tracking device|gps tag|air ?tag)\b|\bspy ?ware\b|\bspy app\b|"
                 r"\bcameras? (?:\w+ ){0,4}(?:watch|spy|record)\w*\b|\bsends? (?:him|her) "
                 r"everything i (?:type|do|say)\b"),
    ("surveillance", r"\bcan not hide from (?:him|her|them)\b|\b(?:turns?|shows?|showed|turned) "
                     r"up (?:wherever|everywhere|at my (?:work|job|house|flat|door))\b|"
                     r"\b(?:driv\w*|drove|parked|"
                 r"waiting|sits?) (?:past|outside|by) my (?:house|flat|work|place|new)\b|"
                 r"\blog of (?:everywhere|where) i (?:go|went|am)\b"),
    # --- warning signs of suicide
    ("farewell", r"\b(?:giv\w*|gave) (?:away )?(?:all )?(?:of )?my (?:things|stuff|belongings|"
                  r"possessions|clothes|pets?)(?: away)?\b|\b(?:saying|said|say|wrote|writing|"
                  r"written|sent|sending) (?:\w+ )?(?:my )?goodbyes? (?:to everyone|to everybody|"
                  r"to all of you|to the people i love|in case|to my (?:pets?|dog|cat|kids|"
                  r"children|"
                  r"family|friends))\b"),
    ("self_harm", r"\b(?:i am|i feel like|just|such|only|always been) (?:a|such a|nothing but a) "
                  r"(?:burden|waste of space)\b|\bburden (?:to|on) (?:everyone|everybody|them|"
                  r"my family|you all|the people)\b"),
    ("farewell", r"\b(?:will not|won't) be (?:a problem|a burden|around|here) (?:much longer|for "
                  r"long|anymore|any more)\b|\bmake (?:it|the pain|everything) (?:all )?stop "
                  r"(?:for good|forever)\b|\b(?:still )?(?:be|being) here next (?:year|month|"
                  r"christmas)\b|\bstopped seeing the point\b|\bno point (?:in )?(?:me|"
                  r"anything|going on) any ?more\b"),
    # --- trapped
    ("trapped", r"\b(?:stands?|stood|hovers?|hovered) over me\b|\bnot (?:even )?allowed to (?:go "
                r"to|use|lock) the (?:toilet|bathroom|loo)\b|\bchanged the locks\b|\b(?:keeps?|has|"
                r"kept) the only key\b|\bno (?:way|means) "
                r"(?:to leave|of leaving|out|to get away|to escape)\b"),
    ("violence", r"\bthr(?:ew|ows|own) (?:\w+ ){0,6}(?:at|over) (?:me|us|my face|my head)\b"),
    ("threat", r"\b(?:he|she|they|my (?:partner|husband|wife|boyfriend|girlfriend|ex)) (?:\w+ )"
               r"{0,4}(?:guns?|pistol|rifle|shotgun|knife|knives|blade|machete)\b|\bthreaten(?:ed|"
               r"s|ing)? (?:me|us|the kids|my)\b"),
    ("fear", r"\bhiding in (?:the|my|our) \w+ (?:right )?now\b"),
    ("trapped", r"\b(?:i|we) belong to (?:him|her|them)\b|\bpermission to (?:leave|go out|go to|"
                r"see|talk to|call)\b|\bturned (?:\w+ ){0,2}(?:friends|family|everyone|people) "
                r"against me\b"),
    ("surveillance", r"\blisten\w* (?:in )?(?:to|on) (?:all )?my (?:calls|phone ?calls|phone|"
                     r"conversations)\b|"
                     r"\brepeats? things (?:back )?(?:to me )?(?:that )?i (?:only )?"
                     r"(?:said|told)\b"),
    ("violence", rf"\bpress\w* (?:\w+ ){{0,4}}(?:against|on|into) my (?:\w+ )?{_BODY}\b"),
    ("fear", rf"\b(?:in case|because|or else|otherwise) {_PARTNER} (?:\w+ ){{0,5}}(?:hurts|hits|"
             r"kills|beats|harms|attacks|hurt|hit|kill|beat|harm|attack) (?:me|us|the kids)\b"),
    ("threat", r"\b(?:there is|there will be|there would be|there is going to be) (?:hell to pay|"
               r"trouble)\b"),
    ("self_harm", r"\bhoping (?:something (?:bad )?happens|i (?:do not|will not) wake up|i (?:die|"
                  r"crash)|something hits me)\b|\b(?:thinking|thought) (?:\w+ ){0,2}(?:of|about) "
                  r"(?:swerv\w*|crash\w*|driv\w*|walk\w*|step\w*) (?:\w+ ){0,3}(?:into|in "
                  r"front of|off) (?:a |the )?(?:lorry|truck|tree|wall|traffic|bus|train|bridge|"
                  r"cliff)\b"),
    ("trapped", r"\bso i (?:can not|cannot) (?:go|get) anywhere\b|\b(?:can not|cannot) go "
                r"anywhere without (?:him|her)\b"),
    ("fleeing", r"\b(?:need|have|got) to (?:get out|leave|escape|get away) (?:\w+ ){0,3}(?:tonight|"
                r"now|today|right now)\b"),
    # --- living around a partner's temper
    ("fear", rf"\bso (?:that )?{_PARTNER} (?:does not|will not|would not|did not|won't|doesn't) "
             r"(?:blow up|explode|lose (?:it|his temper|her temper)|kick off|get angry|go mad|"
             r"go off|snap|start on me|hit|hurt|shout)\b|\bbefore (?:he|she) gets (?:home|back|in) "
             r"(?:\w+ ){0,4}(?:or|so) (?:he|she) (?:will|would|won't|does not|doesn't)\b"),
    ("unease", r"\b(?:in|when (?:he|she) is in) one of (?:his|her) moods\b|\bcheck (?:his|her) "
               r"mood\b|\b(?:heart (?:races|pounds|sinks)|i (?:freeze|shake|tremble|flinch|go "
               r"quiet)|knot in my stomach|feel sick|stomach (?:turns|drops|churns)|hands "
               r"(?:shake|start shaking)) (?:\w+ ){0,5}(?:when|whenever|the moment|as soon as) "
               r"(?:he|she|his|her|i see (?:his|her)|i hear (?:his|her))\b|\bdo not dare (?:tell|"
               r"ask|say)\b"),
]
_CRISIS_COMPILED = [(category, re.compile(pattern)) for category, pattern in _CRISIS_RULES]

_CONTROL_RULES = [
    r"\b(?:check\w*|go(?:es)? through|went through|going through|read\w*|look\w* through|"
    r"snoop\w*|spy\w*) (?:on )?(?:all )?(?:of )?my (?:phone|messages|texts|emails?|mail|"
    r"accounts?|browser|history|dms|chats?)",
    r"\b(?:track\w*|monitor\w*) (?:me|my|where i)\b|\btracking app\b|\blocation\b",
    r"\b(?:controls?|controlling|took over|takes?|keeps?) (?:all )?(?:of )?(?:the|my|our) "
    r"(?:money|finances|paycheck|pay|cards?|bank|salary|wages)\b",
    r"\ballowance\b|\bpasswords?\b",
    r"\b(?:decides?|tells? me|controls?) (?:who|what|where|when) i (?:can|may|am allowed|should)\b",
    r"\b(?:prove|proof of|photos? of|pictures? of|pictures to prove) where i (?:am|was)\b",
    r"\b(?:has to|wants to|needs to) know where i am\b",
    r"\bmakes? me (?:check in|text|call|ring|report|send)\b",
    r"\b(?:choos\w*|chose|decides?) (?:what|which) (?:clothes )?i (?:wear|put on)\b|"
    r"\b(?:not|never) let (?:me|us) wear\b",
]
# Control is something a partner does: "read my messages" said to an assistant is not.
_SOMEONE_ELSE = r"\b(?:he|she|they|partner|husband|wife|boyfriend|girlfriend|spouse|ex)\b.*"
# Control over money: financial control alone is answered as control (cause.control, with the
# abuse hotline); with trapping, isolation or threats it is a crisis (the rules above). These
# are said of someone else by their very words ("my allowance", "permission to spend").
_MONEY_RULES = [
    r"\bpermission (?:\w+ ){0,3}(?:to )?(?:spend|buy|use (?:the|our|my) (?:money|card))",
    r"\b(?:ask|asking|justify|justifying|account for|explain) (?:\w+ ){0,3}(?:before|for|every) "
    r"(?:\w+ ){0,2}(?:i spend|i buy|purchase|penny|pound|dollar|coffee|receipt|thing i buy)",
    r"\b(?:pocket money|an allowance|my allowance|housekeeping money)\b",
    r"\b(?:takes?|took|keeps?|kept|hand over|hands over|handing over) (?:all )?(?:of )?my "
    r"(?:wages|pay|salary|tips|earnings|paycheck|pay ?check|benefits|pension|money)\b",
    r"\b(?:check\w*|go(?:es)? through|goes over) (?:every|all) (?:of )?(?:my |our |the )?"
    r"(?:receipts?|statements?|purchases?|transactions?|spending)\b",
    r"\b(?:not|never) (?:allowed|let) (?:\w+ ){0,3}(?:to )?(?:buy|spend|have (?:my own|a) "
    r"(?:card|account|money|bank)|see (?:the|our) (?:accounts?|statements?|bank|savings)|"
    r"touch (?:the|our) money)",
]
_CONTROL_COMPILED = ([re.compile(_SOMEONE_ELSE + p) for p in _CONTROL_RULES]
                     + [re.compile(p) for p in _MONEY_RULES])

_FUNCTION_WORDS = frozenset(
    "he she me my i to it all the a do not will would said in around have let see".split())
_FUNCTION_FLOOR = 0.8  # "knee" for "me" passes
_KEY_FLOOR = 0.85  # "hid" for "hit" (0.88) passes, "shuts" for "hits" (0.62) does not
_MEAN_FLOOR = 0.9

# Words of harm that everyday talk also uses figuratively ("hit me with a tip", "my boss will
# kill me", "we shot some hoops"). A rule that fired on one of these stands only if the
# meaning of the whole sentence does not clearly say ordinary talk; every other rule stands.
_FIGURATIVE = re.compile(
    r"\b(?:hit\w*|kill\w*|murder\w*|strangl\w*|chok\w*|throttl\w*|beat\w*|shot|shoot\w*|"
    r"knock\w*|smash\w*|slam\w*|bash\w*|crush\w*|attack\w*|punch\w*|kick\w*|push\w*|"
    r"shov\w*|drag\w*|twist\w*|grab\w*|bit|bite\w*|burn\w*|blow\w*|destroy\w*|stab\w*|"
    r"slap\w*|whack\w*|squeez\w*|pin\w*|threw|throw\w*|hurt\w*|harm\w*|suffocat\w*|"
    r"smother\w*|trap\w*|lock\w*|bruis\w*|bleed\w*)\b")


# Rules that read signs rather than words of harm (unease around a partner, surveillance, a
# farewell), and matches by sound: like a figurative word, they stand unless the meaning of the
# sentence clearly says ordinary talk.
_SOFT = frozenset({"unease", "surveillance", "farewell", "fleeing", "fuzzy"})
# A person as the subject just before the words of harm: then they are not figurative.
_SUBJECT_BEFORE = re.compile(r"\b(?:he|she|they|my (?:partner|husband|wife|boyfriend|girlfriend|"
                             r"ex|fiance|fiancee|spouse))(?: \w+){0,3} $")
# Words of harm with no figurative life: with one of these, the finding stands.
_UNMISTAKABLE = re.compile(r"\b(?:grop\w*|rap(?:e|ed|es|ing)|molest\w*|headbutt\w*|kne(?:e|ed|es)|"
                           r"backhand\w*|scald\w*|raped|sexual\w*|bruises|black eye)\b")
# Rules that find harm by its verbs: those verbs have figurative lives too.
_HARM_WORDED = frozenset({"violence", "threat", "strangulation", "self_harm"})


class SafetyCheck:
    """The safety check that runs on every utterance, before any other understanding.

    Four signals, each for what it does best:
    - rules: precise, and for what must never be missed; the firm ones always stand;
    - the meaning of the sentence (intents/semantic.py): how close it is to hundreds of written
      disclosures against how close to ordinary talk. It catches disclosures no rule words
      ("I tidy everything before he gets home so he won't kick off"), and it can overrule a
      rule that fired only on a word people use figuratively;
    - a lexical classifier over the same written disclosures, everyday talk and requests: a
      disclosure when the disclosures rank first, if the meaning agrees;
    - fuzzy matching by sound, for words a recogniser misheard ("he hid me").
    """

    def __init__(self, library, cache_dir=None, meaning: Meaning | None = None) -> None:
        from intents.matcher import intent_groups
        from intents.phrases import PhraseClassifier, PhraseGroup

        groups = [PhraseGroup(_DISCLOSURES, (*library.disclosures, *crisis_corpus())),
                  PhraseGroup("everyday", library.everyday),
                  PhraseGroup("out_of_scope", library.out_of_scope),
                  *(PhraseGroup(g.id, g.examples) for g in intent_groups(library))]
        self._phrases = PhraseClassifier([g for g in groups if g.examples], cache_dir=cache_dir)
        self.meaning = meaning or Meaning(library, cache_dir)

    def learned(self, normalized: str) -> tuple[bool, float, float]:
        """Whether the crisis group ranks first, its evidence, and the best other evidence."""
        ranked = self._phrases.rank(_IDIOM_RE.sub(" ", normalized))
        first = ranked[0][0] == _DISCLOSURES
        evidence = dict(ranked)
        crisis = evidence.pop(_DISCLOSURES)
        return first, crisis, max(evidence.values())

    def check(self, normalized: str, closeness: Closeness | None = None) -> SafetyFinding:
        """The finding for one normalised utterance; `closeness` is its reading by the
        semantic signal, if the caller has it already."""
        if not normalized:
            return NOTHING
        closeness = closeness or self.meaning.read(normalized)
        finding = check_rules(normalized)
        if finding.is_crisis:
            if finding.firm:
                return finding  # said in so many words
            veto = SOFT_VETO if finding.category in _SOFT else FIGURATIVE_VETO
            if closeness.leans_to_danger > -veto:
                return finding
            log.debug("%r: %s, but it means ordinary talk (%.2f against %.2f)", normalized,
                      finding.evidence, closeness.danger, closeness.ordinary)
            doubted = finding.category in _SOFT  # a sign of danger, overruled: worth asking
            finding = check_rules(normalized, crisis=False)
        else:
            doubted = False
        # Control already gets its own answer with the hotline: the meaning escalates it only
        # by a wider margin, as the lexical classifier does.
        meaning_margin = MEANING_MARGIN if finding.level == SAFE else CONTROL_ESCALATION_MARGIN
        if closeness.danger >= MEANING_DANGER and closeness.leans_to_danger >= meaning_margin:
            return SafetyFinding(DANGER, "meaning", f"close to written disclosures "
                                 f"({closeness.danger:.2f} against {closeness.ordinary:.2f})")
        learned = None
        if len(normalized.split()) >= LEARNED_MIN_WORDS:  # a word or two is too little
            first, crisis, other = self.learned(normalized)
            # Controlling behaviour already gets its own honest answer with the hotline; only
            # escalate it when it reads much more like a written disclosure than anything else.
            margin = LEARNED_MARGIN if finding.level == SAFE else CONTROL_ESCALATION_MARGIN
            if first and crisis >= LEARNED_EVIDENCE and crisis - other >= margin:
                learned = f"close to written disclosures ({crisis:.2f} against {other:.2f})"
                if closeness.leans_to_danger > LEARNED_AGREEMENT:
                    return SafetyFinding(DANGER, "learned", learned)
        if finding.level == SAFE and (
                doubted or (learned is not None and closeness.leans_to_danger >= ASK_LEARNED)
                or (closeness.danger >= ASK_DANGER and closeness.leans_to_danger >= ASK_MARGIN)):
            # Between ordinary talk and a disclosure: asking is better than either guess.
            return SafetyFinding(UNSURE, "doubt", f"near written disclosures "
                                 f"({closeness.danger:.2f} against {closeness.ordinary:.2f})",
                                 firm=False)
        return finding


LEARNED_EVIDENCE = 0.5  # at least this close to a written disclosure
LEARNED_MARGIN = 0.05  # and this much closer than to anything ordinary
LEARNED_MIN_WORDS = 3
LEARNED_AGREEMENT = 0.02  # and the meaning closer to a disclosure than to ordinary talk
CONTROL_ESCALATION_MARGIN = 0.2
FIGURATIVE_VETO = 0.05  # a figurative word stands unless ordinary talk is this much closer
SOFT_VETO = 0.15  # a sign of danger (unease, surveillance, a farewell) needs a wider margin
MEANING_DANGER = 0.6  # the meaning alone: at least this close to a written disclosure
MEANING_MARGIN = 0.08  # and this much closer than to anything ordinary
# Below those, a band where the coach asks instead of guessing: the meaning near a written
# disclosure, or the lexical classifier's disclosure with the meaning not far against it.
ASK_DANGER = 0.55
ASK_MARGIN = -0.02
ASK_LEARNED = -0.06


def _firm(finding: SafetyFinding) -> bool:
    """A rule's finding that stands whatever the meaning says: not a sign-reading rule, and
    not harm worded only in words people also use figuratively."""
    if finding.category in _SOFT:
        return False
    return (finding.category not in _HARM_WORDED or _UNMISTAKABLE.search(finding.evidence)
            is not None or not _FIGURATIVE.search(finding.evidence))


def check_rules(normalized: str, crisis: bool = True) -> SafetyFinding:
    """The rules alone, on one normalised utterance. Crisis beats control beats safe;
    `crisis=False` looks only for control."""
    text = _IDIOM_RE.sub(" ", normalized)
    if crisis:
        soft: SafetyFinding | None = None  # a firm rule that matches too wins over it
        for category, pattern in _CRISIS_COMPILED:
            for match in pattern.finditer(text):
                finding = SafetyFinding(DANGER, category, match.group(0).strip())
                if _firm(finding) or _SUBJECT_BEFORE.search(text, 0, match.start()):
                    return finding  # "she is killing me slowly": a person does it
                soft = soft or replace(finding, firm=False)
        if soft is not None:
            return soft
        if fuzzy := _fuzzy_crisis(text.split()):
            return replace(fuzzy, firm=False)
    for pattern in _CONTROL_COMPILED:
        if match := pattern.search(text):
            return SafetyFinding(CONTROLLING, "coercive_control", match.group(0).strip())
    return NOTHING


_PROTOTYPE_WORDS = sorted({w for p in PROTOTYPES for w in p})
_PROTOTYPE_FLOORS = tuple([_FUNCTION_FLOOR if w in _FUNCTION_WORDS else _KEY_FLOOR for w in p]
                          for p in PROTOTYPES)


_PROTOTYPE_INDEX = {word: i for i, word in enumerate(_PROTOTYPE_WORDS)}
_SOUNDS_REMEMBERED = 4096  # words; a row each, so memory stays bounded over a long day


@lru_cache(maxsize=_SOUNDS_REMEMBERED)
def _sounds_like(word: str) -> np.ndarray:
    """How alike the word sounds to each word of the prototypes (in _PROTOTYPE_WORDS order),
    kept compactly: one small row per word said."""
    floor = min(_FUNCTION_FLOOR, _KEY_FLOOR)
    return np.array([sound_similarity(word, p, floor) for p in _PROTOTYPE_WORDS],
                    dtype=np.float64)


def _fuzzy_crisis(words: list[str]) -> SafetyFinding | None:
    # Each distinct word said is compared once with each word of the prototypes; the windows
    # below then only look the similarities up.
    sounds = {w: _sounds_like(w) for w in set(words)}
    for prototype, floors in zip(PROTOTYPES, _PROTOTYPE_FLOORS, strict=True):
        n = len(prototype)
        for start in range(len(words) - n + 1):
            window = words[start:start + n]
            scores = []
            for said, meant, floor in zip(window, prototype, floors, strict=True):
                score = float(sounds[said][_PROTOTYPE_INDEX[meant]])
                if score < floor:
                    break
                scores.append(score)
            else:
                if sum(scores) / n >= _MEAN_FLOOR:
                    heard = " ".join(window)
                    return SafetyFinding(DANGER, "fuzzy",
                                         f"{heard!r} ~ {' '.join(prototype)!r}")
    return None
