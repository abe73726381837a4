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

import re
from dataclasses import dataclass

from intents.phonetics import sound_similarity

DANGER = "danger"  # a disclosure of danger: the crisis answer
CONTROLLING = "control"  # coercive control that is not an emergency
SAFE = "safe"
_DISCLOSURES = "disclosures"  # the learned check's group of written disclosures


@dataclass(frozen=True, slots=True)
class SafetyFinding:
    level: str  # DANGER, CONTROLLING or SAFE
    category: str = ""  # violence, threat, strangulation, trapped, sexual, self_harm, fear, ...
    evidence: str = ""  # the words that triggered it

    @property
    def is_crisis(self) -> bool:
        return self.level == DANGER


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
)
_HURT = _words(r"hurt(?:s|ing)?", r"harm(?:ed|s|ing)?", r"kill(?:ed|s|ing)?",
               r"murder(?:ed|s)?", r"shoot", r"stab", r"beat", r"hit", r"get", r"do")
_TARGET = _words(r"me", r"my", r"us", r"our (?:kids|children|son|daughter|baby|dog|cat)",
                 r"the (?:kids|children|baby|dog|cat)", r"my (?:kids|children|son|daughter)")
_PARTNER = _words(r"he", r"she", r"they", r"him", r"her", r"them",
                  r"my (?:partner|husband|wife|boyfriend|girlfriend|ex|fiance|fiancee|spouse)")
_FUTURE = _words(r"going to", r"will", r"would", r"might", r"could", r"wants? to", r"tried to",
                 r"trying to", r"threaten(?:ed|s|ing)? to", r"swore to", r"promised to",
                 r"said (?:he|she|they) would", r"is about to")
_WEAPON = _words(r"guns?", r"knife", r"knives", r"weapons?", r"rifle", r"pistol", r"blade",
                 r"bat", r"hammer", r"machete", r"axe", r"crossbow", r"shotgun")
# Body parts someone else can injure; "stepped on my hand" is harm, "on my nerves" is not.
_BODY = _words(r"head", r"neck", r"face", r"throat", r"hands?", r"fingers?", r"arms?", r"legs?",
               r"ribs?", r"stomach", r"chest", r"wrists?", r"jaw", r"nose", r"eyes?", r"back",
               r"body", r"skin")

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
    ("trapped", r"\b(?:not|never|refuses? to|refused to) let (?:me|us) (?:\w+ )?(?:leave|go|out|"
                r"see|talk|call|visit|have|use|get up|sleep|eat|work|speak|text)\b"),
    ("trapped", r"\bnot allowed to (?:leave|see|go|talk|call|visit|have friends|work|speak|text)"),
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
]
# Control is something a partner does: "read my messages" said to an assistant is not.
_SOMEONE_ELSE = r"\b(?:he|she|they|partner|husband|wife|boyfriend|girlfriend|spouse|ex)\b.*"
_CONTROL_COMPILED = [re.compile(_SOMEONE_ELSE + p) for p in _CONTROL_RULES]

# Fuzzy prototypes: short, distinctive crisis sentences. A run of words in the transcript that
# sounds like one of these, word for word ("he hid me" for "he hit me"), counts as a disclosure
# even when the exact rules missed it because the recogniser swapped a sound. Words are compared
# by sound (intents/phonetics.py): "she shuts me out" must not pass for "she hits me".
_PROTOTYPES = tuple(p.split() for p in (
    "he hit me", "she hit me", "he hits me", "she hits me", "he beat me", "he beats me",
    "he punched me", "she punched me", "he slapped me", "she slapped me", "he kicked me",
    "he pushed me", "she pushed me", "he shoved me", "she shoved me", "he choked me",
    "she choked me", "he strangled me", "hands around my neck", "threatened to kill me",
    "going to kill me", "said he would kill me", "said she would kill me", "kill myself",
    "hurt myself", "cutting myself", "want to die", "end my life", "end it all",
    "do not want to live", "suicide", "raped me", "forced me to have sex", "locked me in",
    "will not let me leave", "will not let me see", "scared he will hurt me",
    "afraid he will hurt me", "hurt the kids",
))
_FUNCTION_WORDS = frozenset(
    "he she me my i to it all the a do not will would said in around have let see".split())
_FUNCTION_FLOOR = 0.8  # "knee" for "me" passes
_KEY_FLOOR = 0.85  # "hid" for "hit" (0.88) passes, "shuts" for "hits" (0.62) does not
_MEAN_FLOOR = 0.9

# Sentences a restricted recogniser must be able to hear (see intents/grammar.py), beyond the
# prototypes: the ways people disclose danger, in plain words.
RECOGNITION_PHRASES = (
    *(" ".join(p) for p in _PROTOTYPES),
    "he hurts me", "she hurts me", "my partner hurts me", "he threw something at me",
    "he grabbed me by the throat", "he put his hands on my neck", "i can not breathe",
    "he threatened me", "she threatened me", "he has a gun", "he has a knife",
    "he will not let me leave the house", "she will not let me see my friends",
    "he took my phone", "he took my keys", "i am locked in", "i am trapped",
    "he forces me", "he made me have sex", "i said no", "he raped me",
    "i want to kill myself", "i do not want to be here anymore", "i want to end it",
    "i have been cutting myself", "i am thinking about suicide", "i wish i was dead",
    "everyone would be better off without me", "i am scared of him", "i am afraid of her",
    "i am not safe at home", "i am afraid to go home", "he is going to hurt me",
    "she is going to hurt me", "he said he would kill me", "help me i am in danger",
)

def crisis_corpus() -> list[str]:
    """Many plain ways of disclosing danger, built from the same word lists the rules use, so a
    recogniser with a restricted language model has heard these word sequences before."""
    people = ("he", "she", "my partner", "my husband", "my wife", "my boyfriend",
              "my girlfriend", "my ex")
    past = ("hit", "punched", "slapped", "kicked", "shoved", "pushed", "choked", "strangled",
            "grabbed", "pinned", "burned", "beat", "stabbed", "threatened", "raped", "bit",
            "attacked", "hurt", "scratched", "dragged", "smothered", "threw something at")
    present = ("hits", "punches", "slaps", "kicks", "shoves", "pushes", "chokes", "hurts",
               "threatens", "beats", "grabs", "forces")
    sentences = list(RECOGNITION_PHRASES)
    for person in people:
        sentences += [f"{person} {verb} me" for verb in past]
        sentences += [f"{person} {verb} me again" for verb in past[:8]]
        sentences += [f"{person} {verb} me when" for verb in present]
        sentences += [
            f"{person} said {'he' if person != 'she' else 'she'} would kill me",
            f"{person} threatened to kill me", f"{person} threatened to hurt the kids",
            f"{person} has a gun", f"{person} has a knife", f"i am scared of {person}",
            f"{person} will not let me leave", f"{person} will not let me see my family",
            f"{person} locked me in the bedroom", f"{person} took my phone and my keys",
            f"{person} forced me to have sex", f"{person} makes me have sex when i say no",
            f"{person} put hands around my neck", f"{person} is going to hurt me",
        ]
    sentences += [
        "i want to die", "i want to end my life", "i want to end it all", "i am going to kill "
        "myself", "i have been cutting myself", "i hurt myself on purpose", "i do not want to "
        "live anymore", "i do not want to be alive", "i do not see the point in living",
        "everyone would be better off without me", "i wish i was dead", "i wish i was never born",
        "i am thinking about suicide", "i have thoughts of killing myself", "i took all my pills",
        "i am going to take all my pills", "i am afraid to go home", "i am not safe at home",
        "i fear for my life", "he is coming after me", "i am hiding from him",
        "i am hiding from her", "i can not breathe", "he squeezed my throat",
        "she squeezed my neck", "i blacked out", "i have bruises", "i am bleeding",
    ]
    return list(dict.fromkeys(sentences))


class SafetyCheck:
    """The rules, plus a phrase classifier trained on the library's crisis examples.

    Rules are precise but only as broad as their word lists; people disclose danger in endless
    ways ("i told everyone i fell down the stairs"). The classifier compares each utterance with
    hundreds of written disclosures, with everyday talk that sounds similar
    (crisis_examples.toml), and with every ordinary request in the library, each intent a group
    of its own. A disclosure is flagged when the crisis group comes first with enough evidence.
    """

    def __init__(self, library, cache_dir=None) -> None:
        from intents.matcher import intent_groups
        from intents.phrases import PhraseClassifier, PhraseGroup

        groups = [PhraseGroup(_DISCLOSURES, (*library.disclosures, *crisis_corpus())),
                  PhraseGroup("everyday", library.everyday),
                  PhraseGroup("out_of_scope", library.out_of_scope),
                  *(PhraseGroup(g.id, g.examples) for g in intent_groups(library))]
        self._phrases = PhraseClassifier([g for g in groups if g.examples], cache_dir=cache_dir)

    def learned(self, normalized: str) -> tuple[bool, float, float]:
        """Whether the crisis group ranks first, its evidence, and the best other evidence."""
        ranked = self._phrases.rank(_IDIOM_RE.sub(" ", normalized))
        first = ranked[0][0] == _DISCLOSURES
        evidence = dict(ranked)
        crisis = evidence.pop(_DISCLOSURES)
        return first, crisis, max(evidence.values())

    def check(self, normalized: str) -> SafetyFinding:
        finding = check_rules(normalized)
        if finding.is_crisis or len(normalized.split()) < LEARNED_MIN_WORDS:
            return finding  # a word or two is too little to judge by resemblance
        first, crisis, other = self.learned(normalized)
        # Controlling behaviour already gets its own honest answer with the hotline; only
        # escalate it when it reads much more like a written disclosure than anything else.
        margin = LEARNED_MARGIN if finding.level == SAFE else CONTROL_ESCALATION_MARGIN
        if first and crisis >= LEARNED_EVIDENCE and crisis - other >= margin:
            return SafetyFinding(DANGER, "learned", f"close to written disclosures "
                                 f"({crisis:.2f} against {other:.2f})")
        return finding


LEARNED_EVIDENCE = 0.5  # at least this close to a written disclosure
LEARNED_MARGIN = 0.05  # and this much closer than to anything ordinary
LEARNED_MIN_WORDS = 3
CONTROL_ESCALATION_MARGIN = 0.2


def check_rules(normalized: str) -> SafetyFinding:
    """The rules alone, on one normalised utterance. Crisis beats control beats safe."""
    text = _IDIOM_RE.sub(" ", normalized)
    for category, pattern in _CRISIS_COMPILED:
        if match := pattern.search(text):
            return SafetyFinding(DANGER, category, match.group(0).strip())
    if fuzzy := _fuzzy_crisis(text.split()):
        return fuzzy
    for pattern in _CONTROL_COMPILED:
        if match := pattern.search(text):
            return SafetyFinding(CONTROLLING, "coercive_control", match.group(0).strip())
    return NOTHING


_PROTOTYPE_WORDS = sorted({w for p in _PROTOTYPES for w in p})
_PROTOTYPE_FLOORS = tuple([_FUNCTION_FLOOR if w in _FUNCTION_WORDS else _KEY_FLOOR for w in p]
                          for p in _PROTOTYPES)


def _fuzzy_crisis(words: list[str]) -> SafetyFinding | None:
    # Each distinct word said is compared once with each word of the prototypes; the windows
    # below then only look the similarities up.
    floor = min(_FUNCTION_FLOOR, _KEY_FLOOR)
    sounds = {w: {p: sound_similarity(w, p, floor) for p in _PROTOTYPE_WORDS} for w in set(words)}
    for prototype, floors in zip(_PROTOTYPES, _PROTOTYPE_FLOORS, strict=True):
        n = len(prototype)
        for start in range(len(words) - n + 1):
            window = words[start:start + n]
            scores = []
            for said, meant, floor in zip(window, prototype, floors, strict=True):
                score = sounds[said][meant]
                if score < floor:
                    break
                scores.append(score)
            else:
                if sum(scores) / n >= _MEAN_FLOOR:
                    heard = " ".join(window)
                    return SafetyFinding(DANGER, "fuzzy",
                                         f"{heard!r} ~ {' '.join(prototype)!r}")
    return None
