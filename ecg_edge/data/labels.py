"""Label maps from each archive's vocabulary to our task classes.

SNOMED-CT codes are those of the PhysioNet/CinC Challenge 2020/2021 (dx_mapping_scored.csv and
dx_mapping_unscored.csv); the chapman4 grouping is Zheng et al. 2020 (Sci Data 7:48), the cpsc9
classes are those of CPSC 2018 (Liu et al. 2018).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ecg_edge.errors import DataError

TASK_CLASSES: dict[str, list[str]] = {
    "chapman4": ["SB", "AFIB", "GSVT", "SR"],
    "cpsc9": ["Normal", "AF", "I-AVB", "LBBB", "RBBB", "PAC", "PVC", "STD", "STE"],
    "mitdb-rhythm": ["SR", "AFIB", "SB", "other"],
    "cpsc2021-af": ["non-AF", "AF"],
}
# The tasks the synthetic generator draws (ecg_edge.data.synth.rhythms models their rhythms).
SYNTH_TASKS = ("chapman4", "cpsc9")

# SNOMED-CT code -> class, per task. Codes not listed are ignored (they are not this task's
# concern: e.g. a T-wave abnormality beside a rhythm code in Chapman-Shaoxing).
SNOMED: dict[str, dict[str, str]] = {
    "chapman4": {
        "426177001": "SB",  # sinus bradycardia
        "164889003": "AFIB",  # atrial fibrillation
        "164890007": "AFIB",  # atrial flutter
        "195080001": "AFIB",  # atrial fibrillation and flutter
        "282825002": "AFIB",  # paroxysmal atrial fibrillation
        "426749004": "AFIB",  # chronic atrial fibrillation
        "314208002": "AFIB",  # rapid atrial fibrillation
        "426761007": "GSVT",  # supraventricular tachycardia
        "67198005": "GSVT",  # paroxysmal supraventricular tachycardia
        "713422000": "GSVT",  # atrial tachycardia
        "251166008": "GSVT",  # atrioventricular node reentrant tachycardia
        "233896004": "GSVT",  # AV node reentrant tachycardia (alternative code)
        "233897008": "GSVT",  # atrioventricular reentrant tachycardia
        "17366009": "GSVT",  # sinus atrium to atrial wandering rhythm
        "195101003": "GSVT",  # wandering atrial pacemaker
        "427084000": "GSVT",  # sinus tachycardia
        "426783006": "SR",  # sinus rhythm
        "427393009": "SR",  # sinus arrhythmia (sinus irregularity)
    },
    "cpsc9": {
        "426783006": "Normal",  # sinus rhythm
        "164889003": "AF",
        "270492004": "I-AVB",
        "164909002": "LBBB",
        "733534002": "LBBB",  # complete LBBB (scored as equivalent)
        "59118001": "RBBB",
        "713427006": "RBBB",  # complete RBBB (scored as equivalent)
        "284470004": "PAC",
        "63593006": "PAC",  # supraventricular premature beats (scored as equivalent)
        "427172004": "PVC",
        "17338001": "PVC",  # ventricular premature beats (scored as equivalent)
        "429622005": "STD",
        "164931005": "STE",
    },
}

# CPSC 2018 REFERENCE.csv label numbers
CPSC2018_NUMBERS = {"1": "Normal", "2": "AF", "3": "I-AVB", "4": "LBBB", "5": "RBBB", "6": "PAC",
                    "7": "PVC", "8": "STD", "9": "STE"}

# Chapman-Shaoxing Diagnostics "Rhythm" acronyms (11) -> the 4 groups
CHAPMAN_RHYTHM = {"SB": "SB", "AFIB": "AFIB", "AF": "AFIB", "SVT": "GSVT", "AT": "GSVT", "AVNRT": "GSVT",
                  "AVRT": "GSVT", "SAAWR": "GSVT", "ST": "GSVT", "SR": "SR", "SI": "SR"}

# MIT-BIH rhythm aux notes -> mitdb-rhythm classes; anything else goes to "other"
MITDB_RHYTHM = {"(N": "SR", "(AFIB": "AFIB", "(AFL": "AFIB", "(SBR": "SB"}
MITDB_OTHER = "other"


def task_classes(task: str) -> list[str]:
    if task not in TASK_CLASSES:
        raise DataError(f"unknown task {task!r}; expected one of {', '.join(TASK_CLASSES)}")
    return TASK_CLASSES[task]


def parse_class_map(spec: str, classes: list[str] | None = None) -> dict[str, str]:
    """'(N=SR,(AFIB=AFIB,(AFL=AFIB' -> dict; used for --class-map overrides."""
    out: dict[str, str] = {}
    for item in spec.split(","):
        if not item.strip():
            continue
        if "=" not in item:
            raise DataError(f"class map entry {item!r}: expected CODE=CLASS")
        k, v = (s.strip() for s in item.split("=", 1))
        if classes is not None and v not in classes:
            raise DataError(f"class map entry {item!r}: class {v!r} is not one of {', '.join(classes)}")
        out[k] = v
    return out


OWN_TASK = "own"  # the classes are the labels the source carries (a labels CSV, rhythm notes)
MULTI_LABEL = ("skip", "first")
MIN_RECORDS_PER_CLASS = 3  # fewer cannot be split into train, val and test


def is_aux_key(key: str) -> bool:
    """A MIT-BIH style rhythm note ('(AFIB'): mapped by the annotated sources themselves."""
    return key.startswith("(")


@dataclass
class LabelPolicy:
    """How a record's own labels become one class: --class-map renames (old=new) first, then a
    built-in task keeps only its classes (case-insensitive), --classes keeps a chosen subset,
    and --multi-label says what a record with several labels left becomes."""

    task: str
    classes: list[str] | None = None  # --classes: subset and order
    class_map: dict[str, str] = field(default_factory=dict)  # label renames (aux notes excluded)
    multi_label: str = "skip"

    def __post_init__(self) -> None:
        if self.multi_label not in MULTI_LABEL:
            raise DataError(f"--multi-label {self.multi_label!r}: expected one of {', '.join(MULTI_LABEL)}")
        if self.task != OWN_TASK:
            known = {c.lower(): c for c in task_classes(self.task)}
            for old, new in self.class_map.items():
                if new.lower() not in known:
                    raise DataError(f"--class-map entry {old}={new}: class {new!r} is not one of task "
                                    f"{self.task}'s classes {', '.join(known.values())} (use --task own for new names)")
            if self.classes is not None:
                bad = [c for c in self.classes if c.lower() not in known]
                if bad:
                    raise DataError(f"--classes {','.join(self.classes)}: {', '.join(bad)} not among task "
                                    f"{self.task}'s classes {', '.join(known.values())}")
                self.classes = [known[c.lower()] for c in self.classes]
        if self.classes is not None:
            dup = sorted({c for c in self.classes if self.classes.count(c) > 1})
            if dup or not self.classes:
                raise DataError(f"--classes {','.join(self.classes)}: expected distinct, non-empty class names")

    def rename(self, label: str) -> str:
        label = self.class_map.get(label.strip(), label.strip())
        if self.task != OWN_TASK:
            known = {c.lower(): c for c in task_classes(self.task)}
            return known.get(label.lower(), label)
        return label

    def resolve(self, labels: list[str]) -> tuple[str | None, str]:
        """(class, "") or (None, skip reason) for the labels of one record, in listed order."""
        names = list(dict.fromkeys(self.rename(lab) for lab in labels if lab.strip()))
        if not names:
            return None, "no label"
        if self.task != OWN_TASK:
            unknown = [n for n in names if n not in task_classes(self.task)]
            if unknown:
                return None, "unknown label"
        if self.classes is not None:
            names = [n for n in names if n in self.classes]
            if not names:
                return None, "label not in --classes"
        if len(names) > 1 and self.multi_label == "skip":
            return None, "several labels (--multi-label skip)"
        return names[0], ""

    def final_classes(self, seen: list[str]) -> list[str]:
        """The dataset's class list: --classes as given, else the task's, else (own) the labels
        seen, sorted so that the same archive always gives the same order."""
        if self.classes is not None:
            return list(self.classes)
        if self.task != OWN_TASK:
            return list(task_classes(self.task))
        return sorted(set(seen))


def split_class_map(spec: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """--class-map 'old=new,...' -> (rhythm-note map for the annotated sources, label renames)."""
    if not spec:
        return {}, {}
    m = parse_class_map(spec)
    return ({k: v for k, v in m.items() if is_aux_key(k)}, {k: v for k, v in m.items() if not is_aux_key(k)})
