"""Independent synthetic social registry with known duplicates, for record-linkage benchmarks.

This generator was written from the registry contract (registry-schema.md) alone, without
looking at the project's own demo generator or linkage model. Its purpose is to check that a
linkage model generalises to registries it was not tuned on.

    .venv/bin/python bench/foreign_registry.py --persons 100000 \
        --out /tmp/foreign/reg_a.db --truth /tmp/foreign/reg_a_truth.csv --seed 7 --profile kp

The registry imitates Khyber Pakhtunkhwa household registration: households of 3-10 persons
(head, wife, children, sometimes grandparents or a married son with his family), clans shared
by households and neighbours, Pashto/Urdu/Arabic given names with a strong frequency skew,
father_name holding the father's (or the husband's) name, national ids missing for most
children and for part of the adults, a household phone, year-only birth dates for many adults.

About 5-8 % of real persons are registered again (a few twice): in the same household, in a
new household (moved, married away, registered at another access point, possibly in another
union council or district) or inside another existing household. Each duplicate record draws
one or more corruptions (see CORRUPTIONS). Hard negatives are planted on purpose: twins,
sons named after their grandfather or father, cousins in sibling households sharing names,
and very common names in the same district and birth year.

--persons is the approximate number of rows of the person table (duplicates included).
The truth CSV lists every pair of person ids that are the same real person
(person_id_a < person_id_b as strings). Output is deterministic for a given seed and profile.
"""

import argparse
import csv
import random
import re
import sqlite3
import sys
import time
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

REF = date(2025, 6, 30).toordinal()  # reference date: latest registration
REG_START = date(2019, 1, 1).toordinal()
YEAR = 365.25

# --------------------------------------------------------------------------------------------
# Profiles
# --------------------------------------------------------------------------------------------

BASE_WEIGHTS = {
    "nid_missing_one_side": 14.0,
    "nid_digit_typo": 5.0,
    "nid_transposition": 3.0,
    "first_name_translit": 14.0,
    "first_name_typo": 8.0,
    "first_name_prefix": 6.0,  # Muhammad (men) / Bibi (women) prefix added or dropped
    "first_last_swap": 3.0,
    "last_name_variant": 5.0,
    "last_name_presence": 6.0,  # women: last name present on one side only
    "dob_day_month_swap": 4.0,
    "dob_year_shift": 5.0,
    "dob_year_only": 7.0,
    "dob_missing": 4.0,
    "father_translit": 7.0,
    "father_given_only": 5.0,  # father's surname dropped (or added)
    "father_prefix": 3.0,  # Muhammad added / dropped in father_name
    "father_typo": 3.0,
    "father_missing": 4.0,
    "phone_changed": 6.0,
    "phone_missing": 6.0,
    "sex_wrong": 0.12,
}

PROFILES = {
    "kp": {
        "dup_rate": 0.06,
        "second_dup": 0.08,
        "family_share": 0.25,
        "placement": {"same_household": 0.30, "new_household": 0.40, "existing_household": 0.30},
        "move": {"same_uc": 0.55, "other_uc": 0.30, "other_district": 0.15},
        "n_corruptions": ((1, 2, 3), (0.35, 0.45, 0.20)),
        "adult_nid": 0.70,
        "minor_nid": 0.55,
        "adult_dob_missing": 0.04,
        "adult_year_only": 0.30,
        "household_phone": 0.65,
        "weights": dict(BASE_WEIGHTS),
    },
    "mixed": {
        "dup_rate": 0.075,
        "second_dup": 0.10,
        "family_share": 0.30,
        "placement": {"same_household": 0.15, "new_household": 0.50, "existing_household": 0.35},
        "move": {"same_uc": 0.25, "other_uc": 0.45, "other_district": 0.30},
        "n_corruptions": ((1, 2, 3), (0.30, 0.45, 0.25)),
        "adult_nid": 0.55,
        "minor_nid": 0.45,
        "adult_dob_missing": 0.05,
        "adult_year_only": 0.32,
        "household_phone": 0.60,
        "weights": dict(
            BASE_WEIGHTS,
            nid_missing_one_side=20.0,
            phone_changed=9.0,
            father_missing=6.0,
            last_name_presence=8.0,
        ),
    },
    "harsh": {
        "dup_rate": 0.07,
        "second_dup": 0.10,
        "family_share": 0.25,
        "placement": {"same_household": 0.25, "new_household": 0.45, "existing_household": 0.30},
        "move": {"same_uc": 0.40, "other_uc": 0.35, "other_district": 0.25},
        "n_corruptions": ((2, 3, 4), (0.35, 0.40, 0.25)),
        "adult_nid": 0.60,
        "minor_nid": 0.45,
        "adult_dob_missing": 0.08,
        "adult_year_only": 0.38,
        "household_phone": 0.55,
        "weights": dict(
            BASE_WEIGHTS,
            nid_missing_one_side=18.0,
            nid_digit_typo=8.0,
            first_name_typo=12.0,
            dob_missing=7.0,
            dob_year_shift=7.0,
            father_missing=6.0,
            father_typo=5.0,
            first_last_swap=4.0,
            sex_wrong=0.25,
        ),
    },
}

# "sparse" (added for issue 15, by the linkage's author, not the generator's): the kp noise
# on a registry shaped like the independent check's, small households in many areas — each
# union council split into 20 (960 in all), households of 3 to 5 persons. On it, the
# blocking passes whose blocks ignore the area grow with the square of the registry.
PROFILES["sparse"] = dict(PROFILES["kp"], union_council_split=20,
                          household_sizes=((3, 4, 5), (45, 35, 20)))

# --------------------------------------------------------------------------------------------
# Areas, access points, programmes
# --------------------------------------------------------------------------------------------

DISTRICTS = [
    ("Peshawar", 34.01, 71.56, [
        ("Peshawar City", ["Hazar Khwani", "Sufaid Dheri", "Pakha Ghulam", "Gulbahar",
                           "Yakatoot", "Lahori", "Tehkal Bala", "Wadpaga"]),
        ("Mathra", ["Mathra", "Sheikh Muhammadi", "Kagawala", "Urmar Bala", "Mashogagar",
                    "Shahi Bala", "Khazana", "Larama"]),
        ("Badaber", ["Badaber", "Sarband", "Mashokhel", "Maryamzai", "Suleman Khel", "Pandu",
                     "Regi", "Achar"]),
    ]),
    ("Swat", 35.22, 72.43, [
        ("Babuzai", ["Mingora", "Saidu Sharif", "Odigram", "Fizagat", "Qambar", "Manglawar",
                     "Gulkada", "Amankot"]),
        ("Matta", ["Matta", "Sakhra", "Durushkhela", "Chuprial", "Baidara", "Shawar",
                   "Gwalerai", "Kharerai"]),
        ("Kabal", ["Kabal", "Kanju", "Dherai", "Shakardara", "Kota", "Tall", "Deolai",
                   "Shah Dherai"]),
    ]),
]

CNIC_PREFIXES = {0: ["17301", "17302", "17101"], 1: ["15602", "15601", "15603"]}

PROGRAMMES = [
    # id, name, agency, benefit_type, unit, pmt_max, age_min, age_max, sex, disability_only,
    # exclusive_group, started_on
    ("PRG-KAF", "Kafaalat unconditional cash transfer", "BISP", "cash", "household", 32.0,
     None, None, None, 0, "uct", "2019-07-01"),
    ("PRG-KPCT", "KP provincial cash support", "Social Welfare Department KP", "cash",
     "household", 30.0, None, None, None, 0, "uct", "2020-04-01"),
    ("PRG-SEHAT", "Sehat Card Plus", "Health Department KP", "health_insurance", "household",
     None, None, None, None, 0, None, "2019-01-01"),
    ("PRG-TALEEM", "Waseela-e-Taleem school stipend", "BISP", "education", "person", 32.0,
     4, 12, None, 0, None, "2019-09-01"),
    ("PRG-NASHO", "Nashonuma nutrition support", "BISP / WFP", "food", "person", 32.0,
     0, 2, None, 0, None, "2020-08-01"),
    ("PRG-HUNAR", "Hunarmand Jawan skills training", "TEVTA KP", "training", "person", None,
     18, 35, None, 0, None, "2021-01-01"),
    ("PRG-DISAB", "Disability support grant", "Zakat and Ushr Department", "cash", "person",
     None, None, None, None, 1, None, "2019-03-01"),
]

# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------

MALE_CORE = """
Ali Ahmad Hassan Hussain Imran Tariq Bilal Usman Umar Zahid Sajid Khalid Asif Arif Naveed
Kamran Faisal Shahid Rashid Yousaf Ibrahim Ismail Ishaq Yaqub Ayub Idrees Ilyas Younas Qasim
Iqbal Akbar Aslam Akram Anwar Arshad Asghar Azam Farooq Haroon Hamid Hanif Ijaz Irfan Javed
Junaid Kashif Luqman Majid Mansoor Masood Mushtaq Nadeem Naeem Nasir Nawaz Nisar Pervez Rafiq
Riaz Saeed Sajjad Salman Shafiq Shakeel Shaukat Sohail Tahir Tanveer Waseem Zubair Zafar Yasir
Sameer Wajid Wahid Adnan Amjad Atif Azhar Babar Danish Ehsan Fahad Fawad Habib Hafeez Hamza
Haris Hashim Ihsan Imtiaz Inam Israr Jamil Jawad Kaleem Karim Latif Maqsood Mehboob Mudassir
Mujahid Mukhtar Munir Murad Naseer Noman Obaid Qaiser Rahim Ramzan Rehan Rizwan Saad Sabir
Sadiq Saleem Shabbir Shahzad Shakir Sharif Shoaib Siddiq Sultan Taimur Talha Tufail Waheed
Waqas Waqar Yahya Zakir Zeeshan Zia Aamir Abid Adil Afzal Aftab Ahsan Aimal Ajmal Alamgir Amin
Anees Asad Ashfaq Ashraf Ayaz Aziz Bahadar Basit Dawood Fayaz Fazal Ghafoor Gohar Gulzar Hakim
Haleem Hayat Hazrat Hidayat Hilal Iftikhar Ikram Imdad Inayat Jahangir Jalal Jamshed Kabir
Khurshid Liaqat Mahmood Manzoor Mazhar Mohsin Moin Mumtaz Musa Nazir Niaz Qadir Qayyum Rafi
Rauf Raza Saif Sajawal Sardar Shahab Shamim Shams Shiraz Subhan Tauseef Wali Yasin Zaheer
Zaman Zarif Aurangzeb Sikandar Jehanzeb Bahram Daud Wisal Zarak Mashal Mirwais Khushal Zalmai
Bakhtiar Naqeeb Faheem Fida Ghazi Gulab Hameed Ibad Irshad Jamal Mairaj Rahat Sadaqat Tajamul
Umair Zahoor Zulfiqar Fakhar Ghayas Izhar Laiq Mubarak Qadeer Raees Saqib Tayyab Wakeel Yameen
Zakariya Uzair Anas Owais Hamdan Shehzad Arbab Ishtiaq Nauman Sher Sartaj Ziarat Gulab
""".split()

ABDUL_ATTR = """
Rahman Karim Wahab Qayyum Ghafoor Jabbar Sattar Haleem Hameed Majeed Rasheed Razzaq Khaliq
Malik Latif Qadir Aziz Basit Wadood Hakeem Jalil Ghani Samad Bari Hadi Nasir Salam Shakoor
Wali Mateen Haq Hai Rauf Rehman Manan Mannan Waheed Baqi Shakur Qadeer Raziq Ahad
""".split()

PASHTO_PRE = "Gul Shah Sher Noor Mir Said Fazal Taj Zar Dost Amir Wali Bakht Sultan Khan Jan Habib Lal Gohar Rahim".split()
PASHTO_SUF = "Zaman Rahman Muhammad Ali Khan Alam Akbar Wali Din Zada Jan Ahmad Hussain Nawaz Aziz Faisal Afzal Hakim Rehman Sher Gul Bahadar Mand Jamal".split()

ULLAH = """
Rahimullah Hidayatullah Inamullah Kifayatullah Ihsanullah Asmatullah Sanaullah Zabihullah
Rahmatullah Hayatullah Saifullah Aminullah Obaidullah Habibullah Najibullah Naqibullah
Shafiullah Samiullah Atiqullah Irfanullah Izzatullah Faizullah Asadullah Attaullah Ikramullah
Nasrullah Zakiullah Wasiullah Rafiullah Sifatullah Barkatullah Karamatullah Azmatullah
Shakirullah Fazlullah Ziaullah Matiullah Hafizullah Naimatullah Raheemullah Amanullah
Latifullah Khairullah Noorullah Anwarullah
""".split()

UDDIN = """
Salahuddin Nizamuddin Shamsuddin Fakhruddin Alauddin Ziauddin Jalaluddin Moinuddin
Qutbuddin Sirajuddin Imamuddin Meraj-ud-Din
""".split()

FEMALE_CORE = """
Fatima Ayesha Khadija Zainab Maryam Hajra Amina Asma Bushra Farzana Gulalai Gulnaz Hina Iqra
Jamila Kausar Laila Mahnoor Malalai Nasreen Nazia Parveen Rabia Rukhsana Saima Samina Shabana
Shazia Tahira Uzma Yasmin Zarmina Zubaida Palwasha Shandana Spogmai Wagma Zarsanga Sapna
Nazaneen Mahjabeen Naseem Shaheen Sadia Sumaira Sana Sidra Sobia Shagufta Shamim Shaista
Sharifa Sughra Kubra Rehana Razia Rashida Rubina Salma Sakina Sabira Saba Sofia Tasleem
Tabassum Tanzeela Naheed Nargis Nasima Nighat Noreen Nusrat Munira Mehwish Lubna Kiran Khalida
Kalsoom Irum Ishrat Humaira Hafsa Hamida Haleema Ghazala Gulshan Firdous Farida Fouzia Durdana
Dilshad Bilqees Benazir Asiya Aneela Amna Almas Afshan Abida Aqsa Arifa Attiya Azra Zahida
Zakia Zareena Zubia Wajiha Naila Nazish Qudsia Raheela Safia Sajida Samreen Sarwat Shahida
Shakeela Shamsa Sheeba Shehnaz Shireen Suraiya Tayyaba Ulfat Zohra Marjan Meena Nadia Nageena
Nilofar Pakeeza Reshma Saira Seema Shahnaz Shumaila Sitara Tehmina Zara Zaitoon Shabnam
Zarghuna Nazo Ruqayya Sumayya Husna Hadiqa Faryal Anam Aliya Gulpari Mehnaz Mashal Rozina
Shakira Taj Zarlakhta Zarbakhta Gulmina Bibi Khanzadi Shahzadi Nazma Parisa Roshan Sajda
Noorjahan Rahila Saeeda Hameeda Naseeba Jannat Zeenat Mumtaz Qamar Jamila Gulrukh Nasira
""".split()

FEMALE_BIBI_PRE = "Gul Zar Noor Shah Bakht Taj Khan Mah Jan Sabz Sher Mir Zari Bakhtawar".split()
FEMALE_COMPOUND = [
    "Noor Jahan", "Gul Jahan", "Noor Nisa", "Noor Bano", "Gul Bano", "Sher Bano", "Zar Bano",
    "Gul Pari", "Gul Makai", "Gul Naz", "Gul Rukh", "Zar Taja", "Ume Kulsoom", "Ume Habiba",
    "Ume Rubab", "Bibi Gul", "Zar Mina", "Shah Jahan", "Mah Jabeen", "Noor Zia",
]

CLANS = """
Khan Yousafzai Afridi Khattak Mohmand Shinwari Durrani Bangash Qureshi Shah Awan Swati Orakzai
Wazir Mahsud Marwat Gandapur Tanoli Jadoon Kakakhel Mian Syed Gilani Bukhari Kakar Tareen Niazi
Lodhi Safi Mashwani Utmankhel Tarkani Mamund Dawar Bettani Turi Muhammadzai Khalil Daudzai
Hashmi Abbasi Gujjar Paracha Sethi Chishti Akhunzada Sahibzada Kundi Babar Salarzai Alikhel
Akhtar Rehmani Jan Zaidi Momin Ahmadzai Kheshgi
""".split()

TWIN_NAMES = [
    ("Hassan", "Hussain", "M", "M"), ("Hasnain", "Husnain", "M", "M"), ("Zain", "Zaid", "M", "M"),
    ("Muhammad Hassan", "Muhammad Hussain", "M", "M"), ("Gul Zaman", "Gul Rahman", "M", "M"),
    ("Fatima", "Zainab", "F", "F"), ("Ayesha", "Khadija", "F", "F"), ("Sana", "Hina", "F", "F"),
    ("Iqra", "Aqsa", "F", "F"), ("Noor Jahan", "Noor Bano", "F", "F"), ("Hassan", "Hina", "M", "F"),
    ("Hamza", "Hafsa", "M", "F"), ("Ali", "Aliya", "M", "F"), ("Sher Ali", "Sher Bano", "M", "F"),
]

MUHAMMAD_FORMS = {"Muhammad", "Mohammad", "Mohammed", "Muhammed", "Mohd", "Md", "Mohamad",
                  "Muhamad", "M."}

# Transliteration variant groups (each spelling maps to the others of its group).
TRANSLIT_GROUPS = [
    ["Muhammad", "Mohammad", "Mohammed", "Muhammed", "Mohd", "Md", "Mohamad", "Muhamad"],
    ["Khan", "Kan", "Khaan"], ["Yousaf", "Yusuf", "Yousuf", "Yusaf"],
    ["Yousafzai", "Yusufzai", "Yousufzai", "Yusafzai"], ["Tariq", "Tarik", "Tareq"],
    ["Sameer", "Samir"], ["Noor", "Nur"], ["Rahman", "Rehman", "Rahaman"], ["Zahid", "Zaheed"],
    ["Fatima", "Fatimah", "Fatma"], ["Ayesha", "Aisha", "Aysha", "Aesha"],
    ["Hussain", "Hussein", "Husain"], ["Hassan", "Hasan"], ["Ahmad", "Ahmed"],
    ["Zainab", "Zaynab"], ["Khadija", "Khadijah", "Khadeeja"], ["Iqbal", "Ikbal"],
    ["Qasim", "Kasim"], ["Shafiq", "Shafique"], ["Rafiq", "Rafique"], ["Siddiq", "Siddique"],
    ["Farooq", "Farook", "Faruq"], ["Ishaq", "Ishak"], ["Ibrahim", "Ebrahim"],
    ["Ismail", "Ismael"], ["Yaqub", "Yakub", "Yaqoob"], ["Ayub", "Ayoub", "Ayyub"],
    ["Usman", "Osman", "Usmaan"], ["Umar", "Omar", "Umer"], ["Afridi", "Afreedi", "Apridi"],
    ["Shinwari", "Shinwary"], ["Khattak", "Khatak"], ["Bangash", "Bangush"],
    ["Qureshi", "Quraishi", "Kureshi"], ["Mohmand", "Momand"], ["Durrani", "Durani"],
    ["Zaman", "Zamaan"], ["Jan", "Jaan"], ["Din", "Deen"], ["Bibi", "Bibee", "Bebe"],
    ["Maryam", "Mariam", "Maryum"], ["Zubair", "Zubeir"], ["Waseem", "Wasim"],
    ["Naeem", "Naim"], ["Kareem", "Karim"], ["Saleem", "Salim"], ["Raheem", "Rahim"],
    ["Haleem", "Halim"], ["Hameed", "Hamid"], ["Majeed", "Majid"], ["Rasheed", "Rashid"],
    ["Younas", "Younis", "Yunus"], ["Idrees", "Idris"], ["Ilyas", "Elias"],
    ["Mahmood", "Mehmood", "Mahmud"], ["Masood", "Masud"], ["Mansoor", "Mansur"],
    ["Javed", "Javaid", "Jawed"], ["Pervez", "Parvez", "Perwez"],
    ["Parveen", "Perveen", "Parvin"], ["Yasmin", "Yasmeen", "Yasmine"],
    ["Nasreen", "Nasrin"], ["Shaheen", "Shahin"], ["Kalsoom", "Kulsoom", "Kulsum"],
    ["Zarmina", "Zarmeena"], ["Gul", "Gull"], ["Akbar", "Akber"], ["Asghar", "Asgher"],
    ["Zafar", "Zaffar"], ["Mushtaq", "Mushtak"], ["Ishtiaq", "Ishtiak"], ["Ashfaq", "Ashfak"],
    ["Haq", "Haque", "Huq"], ["Hayat", "Hayyat"], ["Aziz", "Azeez"], ["Ali", "Aly"],
    ["Syed", "Sayed", "Sayyid"], ["Qureshi", "Qureshy"], ["Shah", "Sha"],
    ["Kausar", "Kosar", "Kausir"], ["Ruqayya", "Ruqaiya", "Rukaya"], ["Hajra", "Hajira", "Hajrah"],
    ["Zubaida", "Zubeda", "Zobaida"], ["Amina", "Aminah", "Ameena"], ["Rabia", "Rabiya"],
    ["Bilqees", "Bilquis", "Bilkis"], ["Gulalai", "Gulalay", "Gulaly"],
]

GENERIC_RULES = [
    (re.compile(r"ee"), "i"),
    (re.compile(r"(?<=[^aeiou])i(?=[^aeiou])"), "ee"),
    (re.compile(r"oo"), "u"),
    (re.compile(r"(?<=[^aeiou])u(?=[^aeiou])"), "oo"),
    (re.compile(r"([b-df-hj-np-tv-z])\1"), r"\1"),
    (re.compile(r"(?<=[aeiou])([bdfjlmnrstz])(?=[aeiou])"), r"\1\1"),
    (re.compile(r"q"), "k"),
    (re.compile(r"k(?!h)"), "q"),
    (re.compile(r"kh"), "k"),
    (re.compile(r"a$"), "ah"),
    (re.compile(r"ah$"), "a"),
    (re.compile(r"ai"), "ay"),
    (re.compile(r"(?<=[a-z])e(?=[a-z])"), "a"),
    (re.compile(r"w"), "v"),
]

KEY_NEIGHBOURS = {
    "a": "sqz", "b": "vn", "c": "xv", "d": "sf", "e": "wr", "f": "dg", "g": "fh", "h": "gj",
    "i": "uo", "j": "hk", "k": "jl", "l": "k", "m": "n", "n": "bm", "o": "ip", "p": "o",
    "q": "wa", "r": "et", "s": "ad", "t": "ry", "u": "yi", "v": "cb", "w": "qe", "x": "zc",
    "y": "tu", "z": "x",
}

ALPHABET = np.frombuffer(b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789", dtype=np.uint8)


def _zipf(n: int, s: float = 1.0, offset: float = 3.0) -> np.ndarray:
    w = 1.0 / (np.arange(n) + offset) ** s
    return w / w.sum()


def _catalogue(entries: dict[str, float]) -> tuple[list[str], list[float]]:
    names = list(entries)
    weights = np.array([entries[n] for n in names], dtype=float)
    cum = np.cumsum(weights / weights.sum())
    return names, cum.tolist()


def _male_catalogue() -> tuple[list[str], list[float]]:
    e: dict[str, float] = defaultdict(float)
    core = list(dict.fromkeys(MALE_CORE))
    for name, w in zip(core, _zipf(len(core), 1.0, 4), strict=True):
        e[name] += 0.34 * w
        e["Muhammad " + name] += 0.19 * w
    e["Muhammad"] += 0.020
    e["Muhammad Khan"] += 0.004
    for name, w in zip(ABDUL_ATTR, _zipf(len(ABDUL_ATTR), 1.1, 2), strict=True):
        e["Abdul " + name] += 0.08 * w
    for pre, wp in zip(PASHTO_PRE, _zipf(len(PASHTO_PRE), 1.0, 2), strict=True):
        for suf, ws in zip(PASHTO_SUF, _zipf(len(PASHTO_SUF), 1.0, 2), strict=True):
            if pre != suf:
                e[f"{pre} {suf}"] += 0.15 * wp * ws
    for name, w in zip(ULLAH, _zipf(len(ULLAH), 1.0, 3), strict=True):
        e[name] += 0.12 * w
    for name, w in zip(UDDIN, _zipf(len(UDDIN), 1.0, 2), strict=True):
        e[name] += 0.03 * w
    return _catalogue(e)


def _female_catalogue() -> tuple[list[str], list[float]]:
    e: dict[str, float] = defaultdict(float)
    core = [n for n in dict.fromkeys(FEMALE_CORE) if n not in ("Bibi", "Taj")]
    for name, w in zip(core, _zipf(len(core), 1.0, 4), strict=True):
        e[name] += 0.70 * w
        e["Bibi " + name] += 0.08 * w
    for pre, w in zip(FEMALE_BIBI_PRE, _zipf(len(FEMALE_BIBI_PRE), 1.0, 2), strict=True):
        e[f"{pre} Bibi"] += 0.12 * w
    for name, w in zip(FEMALE_COMPOUND, _zipf(len(FEMALE_COMPOUND), 0.8, 2), strict=True):
        e[name] += 0.07 * w
    e["Bibi"] += 0.01
    return _catalogue(e)


def _clan_catalogue() -> tuple[list[str], list[float]]:
    w = _zipf(len(CLANS), 1.1, 1.5)
    return _catalogue(dict(zip(CLANS, w, strict=True)))


def _translit_table() -> dict[str, list[str]]:
    table: dict[str, list[str]] = defaultdict(list)
    for group in TRANSLIT_GROUPS:
        for name in group:
            variants = table[name.lower()]
            for v in group:
                if v != name and v not in variants:
                    variants.append(v)
    return dict(table)


TRANSLIT = _translit_table()
CLAN_SET = {c.lower() for c in CLANS} | {
    v.lower() for g in TRANSLIT_GROUPS if g[0] in CLANS for v in g}


def random_codes(rng: np.random.Generator, n: int, length: int = 8) -> np.ndarray:
    """n distinct random codes over a 32-letter alphabet (no I, O, 0, 1)."""
    space = 32 ** length
    vals = np.empty(0, dtype=np.int64)
    while len(vals) < n:
        extra = rng.integers(0, space, size=int((n - len(vals)) * 1.02) + 16, dtype=np.int64)
        vals = np.concatenate([vals, extra])
        _, first = np.unique(vals, return_index=True)
        vals = vals[np.sort(first)]
    vals = vals[:n]
    powers = 32 ** np.arange(length - 1, -1, -1, dtype=np.int64)
    digits = (vals[:, None] // powers) % 32
    chars = np.ascontiguousarray(ALPHABET[digits].astype(np.uint8))
    return chars.view(f"S{length}").ravel().astype(str)


# --------------------------------------------------------------------------------------------
# String corruptions
# --------------------------------------------------------------------------------------------


def _match_case(src: str, out: str) -> str:
    if src[:1].isupper() and out:
        return out[0].upper() + out[1:]
    return out


def typo_token(tok: str, rnd: random.Random) -> str:
    if len(tok) < 3:
        return tok + tok[-1].lower()
    for _ in range(6):
        i = rnd.randrange(1, len(tok))
        op = rnd.random()
        if op < 0.35:
            ch = tok[i].lower()
            pool = KEY_NEIGHBOURS.get(ch, "aeiou") + ("aeiou" if ch in "aeiou" else "")
            new = rnd.choice(pool)
            out = tok[:i] + new + tok[i + 1:]
        elif op < 0.6:
            out = tok[:i] + tok[i + 1:]
        elif op < 0.85:
            new = tok[i].lower() if rnd.random() < 0.5 else rnd.choice("aeinrsthl")
            out = tok[:i] + new + tok[i:]
        else:
            j = i if i >= 2 else 2
            if j >= len(tok):
                continue
            out = tok[:j - 1] + tok[j] + tok[j - 1] + tok[j + 1:]
        if out != tok and len(out) >= 2:
            return out
    return tok + tok[-1].lower()


def typo_name(name: str, rnd: random.Random) -> str:
    toks = name.split(" ")
    idx = [i for i, t in enumerate(toks) if len(t) >= 3] or list(range(len(toks)))
    i = rnd.choice(idx)
    toks[i] = typo_token(toks[i], rnd)
    return " ".join(toks)


def generic_variant(tok: str, rnd: random.Random) -> str | None:
    low = tok.lower()
    options = []
    for rule, repl in GENERIC_RULES:
        for m in rule.finditer(low):
            options.append(low[:m.start()] + m.expand(repl) + low[m.end():])
    options = [o for o in options if o != low and len(o) >= 2]
    if not options:
        return None
    return _match_case(tok, rnd.choice(options))


def translit_name(name: str, rnd: random.Random) -> str:
    """A spelling variant of a (possibly compound) name; falls back to a typo."""
    toks = name.split(" ")
    specific: list[str] = []
    for i, tok in enumerate(toks):
        low = tok.lower()
        for v in TRANSLIT.get(low, []):
            specific.append(" ".join(toks[:i] + [v] + toks[i + 1:]))
        if tok == "Abdul" and i + 1 < len(toks):
            nxt = toks[i + 1]
            rest_before, rest_after = toks[:i], toks[i + 2:]
            forms = [f"Abdul{nxt.lower()}", f"Abdul-{nxt}", f"Abd-ul-{nxt}"]
            if nxt[0] in "RSZNT":
                forms += [f"Abdu{nxt[0].lower()} {nxt}", f"Abdu{nxt[0].lower()}{nxt.lower()}"]
            specific += [" ".join(rest_before + [f] + rest_after) for f in forms]
        if low.endswith("ullah") and len(low) > 6:
            base = tok[:-5]
            for f in (f"{base} Ullah", f"{base}ulla", f"{base}-ullah", f"{base}ulah"):
                specific.append(" ".join(toks[:i] + [f] + toks[i + 1:]))
        if low.endswith("uddin") and len(low) > 6:
            base = tok[:-5]
            for f in (f"{base} ud Din", f"{base}-ud-Din", f"{base}udin", f"{base} Uddin"):
                specific.append(" ".join(toks[:i] + [f] + toks[i + 1:]))
    if len(toks) == 2 and toks[0] not in MUHAMMAD_FORMS and toks[0] not in ("Abdul", "Bibi"):
        specific.append(toks[0] + toks[1].lower())
    specific = [s for s in specific if s != name]
    if specific and (rnd.random() < 0.75):
        return rnd.choice(specific)
    order = list(range(len(toks)))
    rnd.shuffle(order)
    for i in order:
        v = generic_variant(toks[i], rnd)
        if v:
            return " ".join(toks[:i] + [v] + toks[i + 1:])
    if specific:
        return rnd.choice(specific)
    return typo_name(name, rnd)


def toggle_prefix(name: str, sex: str, rnd: random.Random) -> str | None:
    toks = name.split(" ")
    if sex == "M":
        if toks[0] in MUHAMMAD_FORMS:
            return " ".join(toks[1:]) if len(toks) >= 2 else None
        pre = rnd.choices(["Muhammad", "Mohammad", "M.", "Mohd"], weights=[6, 2, 1, 1])[0]
        return f"{pre} {name}"
    if toks[0] in ("Bibi", "Bibee", "Bebe"):
        return " ".join(toks[1:]) if len(toks) >= 2 else None
    if toks[-1] == "Bibi":
        return None
    return f"Bibi {name}"


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


class Person:
    __slots__ = ("cluster", "hh", "sex", "first", "last", "father", "phone", "nid", "dob",
                 "disability", "is_head", "reg", "true_dob", "true_nid", "role", "dup_of")

    def copy(self) -> "Person":
        p = Person()
        for s in Person.__slots__:
            setattr(p, s, getattr(self, s))
        return p


class Household:
    __slots__ = ("idx", "uc", "reg", "pmt", "ap", "lat", "lon", "phone", "phone_fmt",
                 "surname_in_father", "clan", "gf_given", "head_age", "gf_named", "members",
                 "is_dup_home")


class Generator:
    def __init__(self, seed: int, profile: str):
        self.rng = np.random.default_rng(seed)
        self.rnd = random.Random(int(self.rng.integers(0, 2**62)))
        self.profile_name = profile
        self.p = PROFILES[profile]
        self.male_names, self.male_cum = _male_catalogue()
        self.female_names, self.female_cum = _female_catalogue()
        self.clans, self.clan_cum = _clan_catalogue()
        self.persons: list[Person] = []
        self.households: list[Household] = []
        self.used_nids: set[str] = set()
        self.used_phones: set[str] = set()
        self.counts: Counter[str] = Counter()
        self.hard: Counter[str] = Counter()
        self.placements: Counter[str] = Counter()
        self.last_hh_in_uc: dict[int, Household] = {}
        self._build_areas()

    # ---------------------------------------------------------------- areas / access points
    def _build_areas(self) -> None:
        rnd = self.rnd
        self.areas = [("PK1", "Khyber Pakhtunkhwa", 1, None, None)]
        self.ucs: list[dict] = []
        for d, (dname, dlat, dlon, tehsils) in enumerate(DISTRICTS):
            did = f"PK1{d + 1:02d}"
            d_pop = 0
            t_rows = []
            for t, (tname, ucs) in enumerate(tehsils):
                tid = f"{did}{t + 1:02d}"
                tlat, tlon = dlat + rnd.uniform(-0.12, 0.12), dlon + rnd.uniform(-0.12, 0.12)
                t_pop = 0
                split = self.p.get("union_council_split", 1)
                for u, (uname, part) in enumerate((n, k) for n in ucs for k in range(split)):
                    uid = f"{tid}{u + 1:02d}" if split == 1 else f"{tid}{u + 1:04d}"
                    uname = uname if split == 1 else f"{uname} {part + 1}"
                    pop = rnd.randrange(18000, 65000) // split
                    t_pop += pop
                    self.areas.append((uid, uname, 4, tid, pop))
                    self.ucs.append({
                        "id": uid, "district": d, "tehsil": tid, "pop": pop,
                        "lat": tlat + rnd.uniform(-0.04, 0.04),
                        "lon": tlon + rnd.uniform(-0.04, 0.04),
                    })
                t_rows.append((tid, tname, 3, did, t_pop))
                d_pop += t_pop
            self.areas.append((did, dname, 2, "PK1", d_pop))
            self.areas.extend(t_rows)
        self.areas[0] = ("PK1", "Khyber Pakhtunkhwa", 1, None, sum(u["pop"] for u in self.ucs))
        self.uc_by_district: dict[int, list[int]] = defaultdict(list)
        for i, u in enumerate(self.ucs):
            self.uc_by_district[u["district"]].append(i)
        # dominant clans per union council: neighbours share family names
        self.uc_clans = []
        for _ in self.ucs:
            dom = []
            while len(dom) < 4:
                c = self.draw_clan_global()
                if c not in dom:
                    dom.append(c)
            self.uc_clans.append((dom, np.cumsum([0.4, 0.3, 0.2, 0.1]).tolist()))
        # access points: per tehsil a facilitation centre and a union council office,
        # plus a one-window and a mobile camp per district
        self.access_points = []
        self.ap_by_tehsil: dict[str, list[str]] = defaultdict(list)
        n = 0
        tehsil_ucs: dict[str, list[int]] = defaultdict(list)
        for i, u in enumerate(self.ucs):
            tehsil_ucs[u["tehsil"]].append(i)
        for tid, idxs in tehsil_ucs.items():
            tname = next(a[1] for a in self.areas if a[0] == tid)
            for kind in ("facilitation_centre", "union_council_office"):
                n += 1
                u = self.ucs[rnd.choice(idxs)]
                apid = f"AP-{n:03d}"
                label = kind.replace("_", " ").title()
                opened = date.fromordinal(REG_START - rnd.randrange(0, 900)).isoformat()
                self.access_points.append((apid, f"{tname} {label}", kind, u["id"],
                                           round(u["lat"] + rnd.uniform(-0.005, 0.005), 5),
                                           round(u["lon"] + rnd.uniform(-0.005, 0.005), 5),
                                           opened))
                self.ap_by_tehsil[tid].append(apid)
        for d, (dname, *_rest) in enumerate(DISTRICTS):
            for kind in ("one_window", "mobile_camp"):
                n += 1
                u = self.ucs[rnd.choice(self.uc_by_district[d])]
                apid = f"AP-{n:03d}"
                opened = None if kind == "mobile_camp" else date.fromordinal(
                    REG_START + rnd.randrange(0, 700)).isoformat()
                lat = None if kind == "mobile_camp" else round(u["lat"], 5)
                lon = None if kind == "mobile_camp" else round(u["lon"], 5)
                self.access_points.append((apid, f"{dname} {kind.replace('_', ' ').title()}",
                                           kind, u["id"], lat, lon, opened))
                for tid in {self.ucs[i]["tehsil"] for i in self.uc_by_district[d]}:
                    self.ap_by_tehsil[tid].append(apid)

    # ---------------------------------------------------------------- draws
    def male_name(self) -> str:
        return self.rnd.choices(self.male_names, cum_weights=self.male_cum)[0]

    def female_name(self) -> str:
        return self.rnd.choices(self.female_names, cum_weights=self.female_cum)[0]

    def draw_clan_global(self) -> str:
        return self.rnd.choices(self.clans, cum_weights=self.clan_cum)[0]

    def draw_clan(self, uc: int) -> str:
        if self.rnd.random() < 0.7:
            dom, cum = self.uc_clans[uc]
            return self.rnd.choices(dom, cum_weights=cum)[0]
        return self.draw_clan_global()

    def draw_size(self) -> int:
        if "household_sizes" in self.p:
            sizes, weights = self.p["household_sizes"]
            return self.rnd.choices(sizes, weights=weights)[0]
        return self.rnd.choices(range(3, 11), weights=[8, 12, 15, 17, 16, 13, 10, 9])[0]

    def new_nid(self, district: int, sex: str) -> str:
        rnd = self.rnd
        while True:
            last = rnd.choice("13579" if sex == "M" else "02468")
            nid = f"{rnd.choice(CNIC_PREFIXES[district])}{rnd.randrange(10**7):07d}{last}"
            if nid not in self.used_nids:
                self.used_nids.add(nid)
                return nid

    def new_phone(self) -> str:
        rnd = self.rnd
        while True:
            net = rnd.choice(["300", "301", "302", "303", "305", "306", "307", "308", "310",
                              "311", "312", "313", "314", "315", "320", "321", "322", "331",
                              "332", "333", "334", "335", "336", "340", "341", "342", "343",
                              "344", "345", "346", "347", "348", "349"])
            num = f"{net}{rnd.randrange(10**7):07d}"
            if num not in self.used_phones:
                self.used_phones.add(num)
                return num

    @staticmethod
    def fmt_phone(num: str, fmt: int) -> str:
        if fmt == 1:
            return "+92" + num
        if fmt == 2:
            return num
        if fmt == 3:
            return f"0{num[:3]}-{num[3:]}"
        return "0" + num

    def dob_of_age(self, age: float) -> int:
        return REF - int(age * YEAR) - self.rnd.randrange(0, 365)

    def recorded_dob(self, true_dob: int, reg: int) -> int | None:
        rnd = self.rnd
        age = (reg - true_dob) / YEAR
        if age >= 18:
            p_missing = self.p["adult_dob_missing"]
            p_year = self.p["adult_year_only"] if age < 55 else min(0.85, self.p["adult_year_only"] * 2)
        else:
            p_missing, p_year = 0.02, 0.04
        u = rnd.random()
        if u < p_missing:
            return None
        if u < p_missing + p_year:
            return year_only(true_dob, rnd, reg)
        return true_dob

    # ---------------------------------------------------------------- households
    def new_household(self, uc: int, reg: int, clan: str, is_dup_home: bool = False) -> Household:
        rnd = self.rnd
        h = Household()
        h.idx = len(self.households)
        h.uc = uc
        h.reg = reg
        h.pmt = None if rnd.random() < 0.05 else round(100 * float(self.rng.beta(2.2, 3.5)), 2)
        tehsil = self.ucs[uc]["tehsil"]
        h.ap = rnd.choice(self.ap_by_tehsil[tehsil]) if rnd.random() < 0.92 else None
        if rnd.random() < 0.9:
            h.lat = round(self.ucs[uc]["lat"] + rnd.uniform(-0.012, 0.012), 6)
            h.lon = round(self.ucs[uc]["lon"] + rnd.uniform(-0.012, 0.012), 6)
        else:
            h.lat = h.lon = None
        h.phone_fmt = rnd.choices([0, 1, 2, 3], weights=[86, 7, 4, 3])[0]
        h.phone = (self.fmt_phone(self.new_phone(), h.phone_fmt)
                   if rnd.random() < self.p["household_phone"] else None)
        h.surname_in_father = rnd.random() < 0.45
        h.clan = clan
        h.gf_given = None
        h.head_age = None
        h.gf_named = False
        h.members = []
        h.is_dup_home = is_dup_home
        self.households.append(h)
        return h

    def add_person(self, h: Household, sex: str, first: str, last: str | None,
                   father: str | None, true_dob: int, role: str, is_head: bool) -> Person:
        rnd = self.rnd
        p = Person()
        p.cluster = len(self.persons)
        p.dup_of = None
        p.hh = h.idx
        p.sex = sex
        p.first = first
        p.last = last
        p.father = father
        p.true_dob = true_dob
        p.role = role
        p.is_head = is_head
        late = true_dob + rnd.randrange(7, 150)  # births are registered some weeks later
        if late > REF:
            late = true_dob + rnd.randrange(0, max(REF - true_dob, 0) + 1)
        p.reg = max(h.reg, late)
        age = (REF - true_dob) / YEAR
        district = self.ucs[h.uc]["district"]
        if age >= 18:
            p.true_nid = self.new_nid(district, sex) if rnd.random() < 0.97 else None
            p.nid = p.true_nid if rnd.random() < self.p["adult_nid"] else None
        else:
            p.true_nid = self.new_nid(district, sex) if rnd.random() < 0.22 else None
            p.nid = p.true_nid if rnd.random() < self.p["minor_nid"] else None
        p.dob = self.recorded_dob(true_dob, p.reg)
        p.disability = 1 if rnd.random() < (0.08 if age >= 60 else 0.03 if age >= 18 else 0.02) else 0
        if is_head:
            p.phone = h.phone
        elif age >= 18:
            u = rnd.random()
            if u < 0.55:
                p.phone = h.phone
            elif u < (0.67 if sex == "M" else 0.59):
                p.phone = self.fmt_phone(self.new_phone(), h.phone_fmt)
            else:
                p.phone = None
        else:
            p.phone = h.phone if rnd.random() < 0.3 else None
        self.persons.append(p)
        h.members.append(p)
        return p

    def father_label(self, h: Household, given: str, last: str | None) -> str:
        if h.surname_in_father and last:
            return f"{given} {last}"
        return given

    def man_last(self, given: str, clan: str) -> str | None:
        if given.endswith(" Khan") and clan == "Khan":
            return None
        return clan if self.rnd.random() < 0.92 else None

    def woman_last(self, clan: str, p_clan: float, p_own: float = 0.0) -> str | None:
        """A woman's last name: the household clan, her own family's clan (p_own) or none."""
        u = self.rnd.random()
        if u < p_clan:
            return clan
        if u < p_clan + p_own:
            return self.draw_clan_global()
        return None

    def gen_real_household(self, uc: int) -> None:
        rnd = self.rnd
        sib = self.last_hh_in_uc.get(uc) if rnd.random() < 0.3 else None
        clan = sib.clan if sib else self.draw_clan(uc)
        reg = REG_START + rnd.randrange(0, REF - 90 - REG_START)
        h = self.new_household(uc, reg, clan)
        h.gf_given = sib.gf_given if sib else self.male_name()
        size = self.draw_size()
        female_head = rnd.random() < 0.05
        if sib:
            head_age = min(max(sib.head_age + rnd.randint(-10, 10), 21), 80)
        else:
            head_age = min(max(int(rnd.gauss(42, 11)), 21), 80)
        gf_label = self.father_label(h, h.gf_given, clan)
        used = set()
        if female_head:
            head_age = max(head_age, 30)
            husband = self.male_name()
            husband_label = self.father_label(h, husband, clan)
            head = self.add_person(h, "F", self.female_name(), self.woman_last(clan, 0.35),
                                   husband_label, self.dob_of_age(head_age), "head", True)
            father_of_children = husband_label
            father_given = husband
            mother_age = head_age
        else:
            given = self.male_name()
            while given == h.gf_given:
                given = self.male_name()
            head = self.add_person(h, "M", given, self.man_last(given, clan), gf_label,
                                   self.dob_of_age(head_age), "head", True)
            father_of_children = self.father_label(h, head.first, head.last)
            father_given = given
            mother_age = None
            if rnd.random() < 0.96:
                wife_age = max(18, head_age - rnd.randint(0, 12))
                self.add_person(h, "F", self.female_name(), self.woman_last(clan, 0.3, 0.08),
                                father_of_children, self.dob_of_age(wife_age), "wife", False)
                mother_age = wife_age
        used.add(head.first)
        h.head_age = head_age
        # grandparents (the head's parents)
        if head_age <= 50 and rnd.random() < 0.2 and len(h.members) < size:
            gf_age = min(head_age + rnd.randint(20, 35), 95)
            if rnd.random() < 0.55:
                ggf = self.male_name()
                self.add_person(h, "M", h.gf_given, self.man_last(h.gf_given, clan),
                                self.father_label(h, ggf, clan), self.dob_of_age(gf_age),
                                "grandfather", False)
            if rnd.random() < 0.85 or len(h.members) < 3:
                gm_age = max(head_age + 18, gf_age - rnd.randint(0, 10))
                self.add_person(h, "F", self.female_name(), self.woman_last(clan, 0.2, 0.08),
                                gf_label, self.dob_of_age(gm_age), "grandmother", False)
        # married son with his own family
        eldest_limit = None
        if not female_head and head_age >= 48 and rnd.random() < 0.25 and len(h.members) < size - 1:
            son_age = rnd.randint(20, min(head_age - 18, 38))
            sgiven = self.child_name(h, "M", used, father_given)
            son = self.add_person(h, "M", sgiven, self.man_last(sgiven, clan), father_of_children,
                                  self.dob_of_age(son_age), "married_son", False)
            used.add(sgiven)
            son_label = self.father_label(h, son.first, son.last)
            dil_age = max(18, son_age - rnd.randint(0, 6))
            self.add_person(h, "F", self.female_name(), self.woman_last(clan, 0.25, 0.08), son_label,
                            self.dob_of_age(dil_age), "daughter_in_law", False)
            max_gc_age = min(son_age, dil_age) - 19
            n_gc = min(rnd.randint(0, 3), max(0, size - len(h.members) - 1), max_gc_age + 1)
            gc_used = set()
            for age in sorted(rnd.sample(range(0, max_gc_age + 1), n_gc)) if max_gc_age >= 0 else []:
                sex = "M" if rnd.random() < 0.51 else "F"
                if sex == "M" and rnd.random() < 0.15 and head.sex == "M":
                    gname = head.first  # grandson named after his grandfather (the head)
                    self.hard["grandson_named_after_grandfather_same_household"] += 1
                else:
                    gname = self.child_name(h, sex, gc_used, son.first)
                gc_used.add(gname)
                last = self.man_last(gname, clan) if sex == "M" else self.woman_last(clan, 0.45)
                self.add_person(h, sex, gname, last, son_label, self.dob_of_age(age + rnd.random()),
                                "grandchild", False)
            eldest_limit = son_age - 1
        # children of the head
        mother_age = mother_age if mother_age is not None else head_age - 5
        max_age = min(mother_age - 18, 30)
        if eldest_limit is not None:
            max_age = min(max_age, eldest_limit)
        n_children = max(size - len(h.members), 3 - len(h.members), 0)
        n_children = min(n_children, max(max_age, 0) + 1)
        ages = sorted(rnd.sample(range(0, max(max_age, 0) + 1), n_children), reverse=True)
        first_son_done = False
        twin_done = False
        for age in ages:
            sex = "M" if rnd.random() < 0.51 else "F"
            gname = None
            if sex == "M" and not first_son_done:
                first_son_done = True
                p_gf = 0.5 if (sib is not None and sib.gf_named) else 0.12
                if rnd.random() < p_gf and h.gf_given not in used:
                    gname = h.gf_given
                    h.gf_named = True
                    if sib is not None and sib.gf_named:
                        self.hard["cousins_same_name_sibling_households"] += 1
                    if any(m.role == "grandfather" for m in h.members):
                        self.hard["grandson_named_after_grandfather_same_household"] += 1
                elif rnd.random() < 0.03 and not female_head:
                    gname = head.first  # junior: named after his father
                    self.hard["son_named_after_father"] += 1
            if gname is None:
                gname = self.child_name(h, sex, used, father_given)
            used.add(gname)
            dob = self.dob_of_age(age + rnd.random() * 0.999)
            dob = min(dob, REF - 1)
            last = self.man_last(gname, clan) if sex == "M" else self.woman_last(clan, 0.45)
            self.add_person(h, sex, gname, last, father_of_children, dob, "child", False)
            if not twin_done and age <= 25 and rnd.random() < 0.012 and len(h.members) < 10:
                twin_done = True
                pair = rnd.choice(TWIN_NAMES) if rnd.random() < 0.4 else None
                if pair and pair[2] == sex and pair[0] != gname and pair[0] not in used:
                    # rename the first twin to the matching pair's first name
                    h.members[-1].first = pair[0]
                    used.add(pair[0])
                    tname, tsex = pair[1], pair[3]
                else:
                    tsex = sex if rnd.random() < 0.6 else ("F" if sex == "M" else "M")
                    tname = self.child_name(h, tsex, used, father_given)
                if tname in used:
                    tname = self.child_name(h, tsex, used, father_given)
                used.add(tname)
                tlast = self.man_last(tname, clan) if tsex == "M" else self.woman_last(clan, 0.45)
                first_twin = h.members[-1]
                twin = self.add_person(h, tsex, tname, tlast, father_of_children, dob, "child",
                                       False)
                twin.dob, twin.reg = first_twin.dob, first_twin.reg
                self.hard["twin_pairs"] += 1
        self.last_hh_in_uc[uc] = h

    def child_name(self, h: Household, sex: str, used: set[str], father_given: str) -> str:
        for _ in range(8):
            name = self.male_name() if sex == "M" else self.female_name()
            if name not in used and name != father_given and name != h.gf_given:
                return name
        return name

    # ---------------------------------------------------------------- duplicates
    def target_uc(self, uc: int) -> int:
        rnd = self.rnd
        mv = self.p["move"]
        u = rnd.random()
        d = self.ucs[uc]["district"]
        if u < mv["same_uc"]:
            return uc
        if u < mv["same_uc"] + mv["other_uc"]:
            others = [i for i in self.uc_by_district[d] if i != uc]
            return rnd.choice(others)
        other_d = [k for k in self.uc_by_district if k != d]
        return rnd.choice(self.uc_by_district[rnd.choice(other_d)])

    def later_date(self, start: int, lo: int, hi: int) -> int:
        """A date lo..hi days after start, squeezed into [start, REF] near the end."""
        hi = min(hi, REF - start)
        if hi <= 0:
            return REF
        return start + self.rnd.randrange(min(lo, hi // 2), hi + 1)

    def home_phone_for(self, orig: Person) -> str | None:
        u = self.rnd.random()
        if u < 0.5 and orig.phone:
            return orig.phone
        if u < 0.8:
            return self.fmt_phone(self.new_phone(), 0)
        return None

    def make_dup(self, src: Person, h: Household, is_head: bool, reg: int) -> Person:
        d = src.copy()
        d.dup_of = src
        d.hh = h.idx
        d.is_head = is_head
        d.reg = max(reg, min(d.true_dob + 30, REF))
        self.persons.append(d)
        h.members.append(d)
        return d

    def set_phone_in_new_home(self, d: Person, h: Household, head: bool) -> None:
        before = d.phone
        if head:
            d.phone = h.phone
        else:
            d.phone = h.phone if self.rnd.random() < 0.6 else (before if self.rnd.random() < 0.3 else None)
        if d.phone != before:
            self.counts["placement_phone_differs"] += 1

    def family_move(self, orig_h: Household) -> list[Person]:
        rnd = self.rnd
        uc = self.target_uc(orig_h.uc)
        if uc == orig_h.uc:
            self.placements["family_moved_same_uc"] += 1
        elif self.ucs[uc]["district"] == self.ucs[orig_h.uc]["district"]:
            self.placements["family_moved_other_uc"] += 1
        else:
            self.placements["family_moved_other_district"] += 1
        reg = self.later_date(orig_h.reg, 60, 1500)
        h = self.new_household(uc, reg, orig_h.clan, is_dup_home=True)
        if orig_h.pmt is not None and rnd.random() < 0.9:
            h.pmt = round(min(100.0, max(0.0, orig_h.pmt + rnd.gauss(0, 6))), 2)
        head = orig_h.members[0]
        h.phone = self.home_phone_for(head)
        dups = []
        for m in list(orig_h.members):
            if m is head or rnd.random() < 0.75:
                d = self.make_dup(m, h, m is head, reg)
                self.set_phone_in_new_home(d, h, m is head)
                dups.append(d)
        return dups

    def individual_dup(self, src: Person, orig: Person) -> Person:
        """A new record of orig (copied from src, which is orig or one of its duplicates)."""
        rnd = self.rnd
        orig_h = self.households[orig.hh]
        age = (REF - orig.true_dob) / YEAR
        kind = rnd.choices(list(self.p["placement"]), weights=list(self.p["placement"].values()))[0]
        if kind == "new_household" and age < 16:
            kind = "existing_household"
        if kind == "same_household":
            self.placements["same_household"] += 1
            return self.make_dup(src, orig_h, False, self.later_date(orig.reg, 20, 900))
        uc = self.target_uc(orig_h.uc)
        where = ("same_uc" if uc == orig_h.uc else "other_uc"
                 if self.ucs[uc]["district"] == self.ucs[orig_h.uc]["district"] else "other_district")
        if kind == "existing_household":
            candidates = self.real_hh_by_uc[uc]
            h = self.households[rnd.choice(candidates)]
            if h.idx == orig_h.idx:
                h = self.households[rnd.choice(candidates)]
            self.placements[f"existing_household_{where}"] += 1
            d = self.make_dup(src, h, False, self.later_date(max(h.reg, orig.reg), 20, 1200))
            before = d.phone
            u = rnd.random()
            d.phone = h.phone if u < 0.4 else (before if u < 0.8 else None)
            if d.phone != before:
                self.counts["placement_phone_differs"] += 1
            return d
        # new household
        reg = self.later_date(orig_h.reg, 60, 1500)
        self.placements[f"new_household_{where}"] += 1
        if orig.sex == "F" and orig.role == "child" and rnd.random() < 0.7:
            # married away: her new household is headed by a husband who is a new person
            clan = self.draw_clan(uc)
            h = self.new_household(uc, reg, clan, is_dup_home=True)
            hgiven = self.male_name()
            h_age = min(age + rnd.randint(0, 12), 80)
            husband = self.add_person(h, "M", hgiven, self.man_last(hgiven, clan),
                                      self.father_label(h, self.male_name(), clan),
                                      self.dob_of_age(h_age), "head", True)
            d = self.make_dup(src, h, False, reg)
            d.father = self.father_label(h, husband.first, husband.last)
            self.counts["father_to_husband_after_marriage"] += 1
            u = rnd.random()
            if u < 0.3:
                d.last = clan
            elif u < 0.8:
                d.last = None
            before = d.phone
            d.phone = h.phone if rnd.random() < 0.5 else None
            if d.phone != before:
                self.counts["placement_phone_differs"] += 1
            self.add_new_children(h, int(age) - 18, husband, clan)
            self.placements["married_away"] += 1
            return d
        h = self.new_household(uc, reg, orig_h.clan, is_dup_home=True)
        if orig_h.pmt is not None and rnd.random() < 0.85:
            h.pmt = round(min(100.0, max(0.0, orig_h.pmt + rnd.gauss(0, 8))), 2)
        h.phone = self.home_phone_for(orig)
        d = self.make_dup(src, h, True, reg)
        self.set_phone_in_new_home(d, h, True)
        if orig.sex == "M" and orig.role in ("child", "married_son") and age >= 18 and rnd.random() < 0.6:
            # a son who set up his own household: new wife and maybe children
            wife_age = max(18, int(age) - rnd.randint(0, 6))
            label = self.father_label(h, d.first, d.last)
            self.add_person(h, "F", self.female_name(), self.woman_last(h.clan, 0.3, 0.08), label,
                            self.dob_of_age(wife_age), "wife", False)
            self.add_new_children(h, wife_age - 18, d, h.clan)
        return d

    def add_new_children(self, h: Household, max_age: int, father: Person, clan: str) -> None:
        rnd = self.rnd
        if max_age < 0:
            return
        n = min(rnd.randint(0, 4), max_age + 1)
        label = self.father_label(h, father.first, father.last)
        used: set[str] = set()
        for age in rnd.sample(range(0, max_age + 1), n):
            sex = "M" if rnd.random() < 0.51 else "F"
            name = self.child_name(h, sex, used, father.first)
            used.add(name)
            last = self.man_last(name, clan) if sex == "M" else self.woman_last(clan, 0.45)
            self.add_person(h, sex, name, last, label,
                            min(self.dob_of_age(age + rnd.random() * 0.999), REF - 1), "child", False)

    # ---------------------------------------------------------------- corruptions
    def applicable(self, d: Person, kind: str) -> bool:
        if kind == "nid_missing_one_side":
            return d.true_nid is not None
        if kind in ("nid_digit_typo", "nid_transposition"):
            return d.nid is not None
        if kind in ("first_last_swap", "last_name_variant"):
            return d.last is not None
        if kind == "last_name_presence":
            return d.sex == "F"
        if kind == "dob_day_month_swap":
            if d.dob is None:
                return False
            x = date.fromordinal(d.dob)
            return x.day <= 12 and x.day != x.month
        if kind in ("dob_year_shift", "dob_missing"):
            return d.dob is not None
        if kind in ("father_translit", "father_given_only", "father_prefix", "father_typo",
                    "father_missing"):
            return d.father is not None
        if kind == "phone_missing":
            return d.phone is not None
        return True

    def corrupt(self, d: Person, k: int) -> None:
        rnd = self.rnd
        weights = self.p["weights"]
        tried: set[str] = set()
        done = 0
        while done < k:
            # applicability depends on the corruptions already applied
            kinds = [c for c in weights if c not in tried and self.applicable(d, c)]
            if not kinds:
                break
            c = rnd.choices(kinds, weights=[weights[x] for x in kinds])[0]
            tried.add(c)
            if self.apply(d, c):
                done += 1
                self.counts[c] += 1

    def apply(self, d: Person, kind: str) -> bool:
        rnd = self.rnd
        if kind == "nid_missing_one_side":
            d.nid = None if d.nid is not None else d.true_nid
            return True
        if kind == "nid_digit_typo":
            i = rnd.randrange(13)
            new = str((int(d.nid[i]) + rnd.randint(1, 9)) % 10)
            d.nid = d.nid[:i] + new + d.nid[i + 1:]
            return True
        if kind == "nid_transposition":
            pos = [i for i in range(12) if d.nid[i] != d.nid[i + 1]]
            if not pos:
                return False
            i = rnd.choice(pos)
            d.nid = d.nid[:i] + d.nid[i + 1] + d.nid[i] + d.nid[i + 2:]
            return True
        if kind == "first_name_translit":
            d.first = translit_name(d.first, rnd)
            return True
        if kind == "first_name_typo":
            d.first = typo_name(d.first, rnd)
            return True
        if kind == "first_name_prefix":
            new = toggle_prefix(d.first, d.sex, rnd)
            if not new:
                return False
            d.first = new
            return True
        if kind == "first_last_swap":
            d.first, d.last = d.last, d.first
            return True
        if kind == "last_name_variant":
            d.last = translit_name(d.last, rnd) if rnd.random() < 0.7 else typo_name(d.last, rnd)
            return True
        if kind == "last_name_presence":
            if d.last is not None:
                d.last = None
            else:
                d.last = self.households[d.dup_of.hh].clan if rnd.random() < 0.85 else "Bibi"
            return True
        if kind == "dob_day_month_swap":
            x = date.fromordinal(d.dob)
            d.dob = date(x.year, x.day, x.month).toordinal()
            return True
        if kind == "dob_year_shift":
            x = date.fromordinal(d.dob)
            y = x.year + rnd.choice((-1, 1))
            d.dob = date(y, x.month, min(x.day, 28) if x.month == 2 else x.day).toordinal()
            return True
        if kind == "dob_year_only":
            if d.dob is not None and d.dob == d.true_dob and not is_year_only(d.dob):
                d.dob = year_only(d.dob, rnd, d.reg)
            else:
                d.dob = (d.true_dob if d.dob is None or rnd.random() < 0.7
                         else year_only(d.true_dob, rnd, d.reg))
                if d.dob == d.dup_of.dob:
                    d.dob = (d.true_dob if is_year_only(d.dob)
                             else year_only(d.true_dob, rnd, d.reg))
            return True
        if kind == "dob_missing":
            d.dob = None
            return True
        if kind == "father_translit":
            d.father = translit_name(d.father, rnd)
            return True
        if kind == "father_typo":
            d.father = typo_name(d.father, rnd)
            return True
        if kind == "father_given_only":
            toks = d.father.split(" ")
            if len(toks) >= 2 and toks[-1].lower() in CLAN_SET:
                d.father = " ".join(toks[:-1])
            else:
                d.father = f"{d.father} {self.households[d.dup_of.hh].clan}"
            return True
        if kind == "father_prefix":
            new = toggle_prefix(d.father, "M", rnd)
            if not new:
                return False
            d.father = new
            return True
        if kind == "father_missing":
            d.father = None
            return True
        if kind == "phone_changed":
            u = rnd.random()
            if d.phone is None or u < 0.5:
                d.phone = self.fmt_phone(self.new_phone(), 0)
            elif u < 0.8:
                digits = re.sub(r"\D", "", d.phone)[-10:]
                fmt = rnd.choice([f for f in (0, 1, 2, 3) if self.fmt_phone(digits, f) != d.phone])
                d.phone = self.fmt_phone(digits, fmt)
            else:
                i = rnd.randrange(len(d.phone) - 7, len(d.phone))
                d.phone = d.phone[:i] + str((int(d.phone[i]) + rnd.randint(1, 9)) % 10) + d.phone[i + 1:]
            return True
        if kind == "phone_missing":
            d.phone = None
            return True
        if kind == "sex_wrong":
            d.sex = "F" if d.sex == "M" else "M"
            return True
        raise ValueError(kind)

    def n_corruptions(self) -> int:
        values, probs = self.p["n_corruptions"]
        return self.rnd.choices(values, weights=probs)[0]

    # ---------------------------------------------------------------- main
    def generate(self, n_records: int) -> None:
        p = self.p
        # duplicates plus the new family members of households set up by re-registration
        expected_extra = p["dup_rate"] * (1 + p["second_dup"]) * 1.05
        n_real_target = int(round(n_records / (1 + expected_extra)))
        pops = np.array([u["pop"] for u in self.ucs], dtype=float)
        pops /= pops.sum()
        batch = self.rng.choice(len(self.ucs), size=n_real_target // 3 + 10, p=pops)
        i = 0
        while len(self.persons) < n_real_target:
            if i >= len(batch):
                batch = self.rng.choice(len(self.ucs), size=n_real_target // 5 + 10, p=pops)
                i = 0
            self.gen_real_household(int(batch[i]))
            i += 1
        n_real = len(self.persons)
        self.n_real_households = len(self.households)
        self.real_hh_by_uc: dict[int, list[int]] = defaultdict(list)
        for h in self.households:
            self.real_hh_by_uc[h.uc].append(h.idx)

        target_dups = int(round(p["dup_rate"] * n_real))
        rnd = self.rnd
        all_dups: list[Person] = []
        # whole families registered again elsewhere
        n_fam = int(round(p["family_share"] * target_dups / 4.8))
        fam_hh = self.rng.choice(self.n_real_households, size=n_fam, replace=False)
        taken = set()
        for hidx in fam_hh:
            h = self.households[int(hidx)]
            dups = self.family_move(h)
            for d in dups:
                taken.add(d.dup_of.cluster)
            all_dups.extend(dups)
        # individuals
        n_ind = max(0, target_dups - len(all_dups))
        ages = np.array([(REF - q.true_dob) / YEAR for q in self.persons[:n_real]])
        w = np.where(ages >= 18, 1.4, 1.0)
        w[list(taken)] = 0.0
        keys = np.where(w > 0, self.rng.random(n_real) ** (1.0 / np.maximum(w, 1e-9)), -1.0)
        chosen = np.argpartition(-keys, n_ind)[:n_ind] if n_ind > 0 else np.array([], dtype=int)
        chosen = np.sort(chosen)
        for idx in chosen:
            orig = self.persons[int(idx)]
            all_dups.append(self.individual_dup(orig, orig))
        for d in all_dups:
            self.corrupt(d, self.n_corruptions())
        # a few real persons registered a third time
        extra = []
        for d in all_dups:
            if rnd.random() < p["second_dup"]:
                orig = d.dup_of
                src = orig if rnd.random() < 0.5 else d
                e = self.individual_dup(src, orig)
                e.dup_of = orig
                self.corrupt(e, self.n_corruptions())
                extra.append(e)
        all_dups.extend(extra)
        self.n_real = n_real
        self.dups = all_dups
        self.ensure_different()

    def ensure_different(self) -> None:
        """A duplicate must differ from each other record of its person in some field."""
        fields = ("first", "last", "father", "phone", "nid", "dob", "sex")
        groups: dict[int, list[Person]] = defaultdict(list)
        for d in self.dups:
            groups[d.cluster].append(d)
        for cl, ds in groups.items():
            orig = self.persons[cl]
            for d in ds:
                others = [orig] + [x for x in ds if x is not d]
                if any(all(getattr(d, f) == getattr(o, f) for f in fields) for o in others):
                    c = "first_name_translit"
                    self.apply(d, c)
                    self.counts[c] += 1


def year_only(ordinal: int, rnd: random.Random, limit: int = REF) -> int:
    """The year-only placeholder (1 January, sometimes 1 July) of a date; never after limit."""
    y = date.fromordinal(ordinal).year
    mid = date(y, 7, 1).toordinal()
    if rnd.random() < 0.25 and mid <= limit:
        return mid
    return date(y, 1, 1).toordinal()


def is_year_only(ordinal: int) -> bool:
    x = date.fromordinal(ordinal)
    return (x.month, x.day) in ((1, 1), (7, 1))


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------

DDL = [
    """CREATE TABLE area (
        area_id TEXT PRIMARY KEY, name TEXT NOT NULL, level INTEGER NOT NULL,
        parent_id TEXT REFERENCES area(area_id), population INTEGER)""",
    """CREATE TABLE access_point (
        access_point_id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL,
        area_id TEXT NOT NULL REFERENCES area(area_id), latitude REAL, longitude REAL,
        opened_on TEXT)""",
    """CREATE TABLE household (
        household_id TEXT PRIMARY KEY, area_id TEXT NOT NULL REFERENCES area(area_id),
        registered_on TEXT NOT NULL, pmt_score REAL,
        access_point_id TEXT REFERENCES access_point(access_point_id),
        latitude REAL, longitude REAL)""",
    """CREATE TABLE person (
        person_id TEXT PRIMARY KEY,
        household_id TEXT NOT NULL REFERENCES household(household_id),
        national_id TEXT, first_name TEXT NOT NULL, last_name TEXT, father_name TEXT,
        phone TEXT, sex TEXT NOT NULL, birth_date TEXT, disability INTEGER NOT NULL,
        is_head INTEGER NOT NULL, registered_on TEXT NOT NULL)""",
    """CREATE TABLE programme (
        programme_id TEXT PRIMARY KEY, name TEXT NOT NULL, agency TEXT,
        benefit_type TEXT NOT NULL, unit TEXT NOT NULL, pmt_max REAL, age_min INTEGER,
        age_max INTEGER, sex TEXT, disability_only INTEGER NOT NULL, exclusive_group TEXT,
        started_on TEXT)""",
    """CREATE TABLE enrolment (
        enrolment_id TEXT PRIMARY KEY,
        programme_id TEXT NOT NULL REFERENCES programme(programme_id),
        household_id TEXT REFERENCES household(household_id),
        person_id TEXT REFERENCES person(person_id),
        enrolled_on TEXT NOT NULL, ended_on TEXT)""",
    """CREATE TABLE referral (
        referral_id TEXT PRIMARY KEY,
        household_id TEXT NOT NULL REFERENCES household(household_id),
        person_id TEXT REFERENCES person(person_id),
        from_programme_id TEXT REFERENCES programme(programme_id),
        to_programme_id TEXT NOT NULL REFERENCES programme(programme_id),
        access_point_id TEXT REFERENCES access_point(access_point_id),
        referred_on TEXT NOT NULL, status TEXT NOT NULL, closed_on TEXT)""",
    "CREATE INDEX person_household ON person(household_id)",
    "CREATE INDEX household_area ON household(area_id)",
    "CREATE INDEX enrolment_person ON enrolment(person_id)",
    "CREATE INDEX enrolment_household ON enrolment(household_id)",
]


def iso_dates(ordinals: np.ndarray) -> np.ndarray:
    """Ordinal days (-1 = missing) to ISO strings (None = missing)."""
    epoch = date(1970, 1, 1).toordinal()
    days = np.where(ordinals < 0, 0, ordinals - epoch).astype("datetime64[D]")
    out = days.astype(str).astype(object)
    out[ordinals < 0] = None
    return out


def _rows(df: pd.DataFrame):
    cols = [df[c].tolist() for c in df.columns]
    for row in zip(*cols, strict=True):
        yield tuple(None if (isinstance(v, float) and v != v) else v for v in row)


def build_enrolments(g: Generator, hh: pd.DataFrame, pe: pd.DataFrame,
                     rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = []
    hreg = hh["reg"].to_numpy()
    pmt = hh["pmt"].to_numpy(dtype=float)
    n_h = len(hh)

    def add_rows(pid_col, ids, reg, prog_id, started):
        if len(ids) == 0:
            return
        start = np.maximum(reg, date.fromisoformat(started).toordinal())
        enrolled = np.minimum(start + rng.integers(0, 400, len(ids)), REF)
        ended = np.where(rng.random(len(ids)) < 0.08, enrolled + rng.integers(90, 1000, len(ids)), -1)
        ended = np.where(ended >= REF, -1, ended)
        rows.append(pd.DataFrame({
            "programme_id": prog_id,
            "household_id": ids if pid_col == "household_id" else None,
            "person_id": ids if pid_col == "person_id" else None,
            "enrolled_on": iso_dates(enrolled),
            "ended_on": iso_dates(ended),
        }))

    u = rng.random(n_h)
    kaf = (pmt <= 32.0) & (u < 0.7)
    kpct = (pmt <= 30.0) & (((~kaf) & (rng.random(n_h) < 0.5)) | (kaf & (rng.random(n_h) < 0.03)))
    sehat = rng.random(n_h) < 0.55
    hid = hh["household_id"].to_numpy()
    add_rows("household_id", hid[kaf], hreg[kaf], "PRG-KAF", "2019-07-01")
    add_rows("household_id", hid[kpct], hreg[kpct], "PRG-KPCT", "2020-04-01")
    add_rows("household_id", hid[sehat], hreg[sehat], "PRG-SEHAT", "2019-01-01")

    age = (REF - pe["true_dob"].to_numpy()) / YEAR
    ppmt = pmt[pe["hh"].to_numpy()]
    preg = pe["reg"].to_numpy()
    pid = pe["person_id"].to_numpy()
    n_p = len(pe)
    r = rng.random(n_p)
    tal = (age >= 4) & (age < 13) & (ppmt <= 32.0) & (r < 0.5)
    nas = (age < 3) & (ppmt <= 32.0) & (r < 0.45)
    hun = (age >= 18) & (age < 36) & (r < 0.05)
    dis = (pe["disability"].to_numpy() == 1) & (rng.random(n_p) < 0.6)
    add_rows("person_id", pid[tal], preg[tal], "PRG-TALEEM", "2019-09-01")
    add_rows("person_id", pid[nas], preg[nas], "PRG-NASHO", "2020-08-01")
    add_rows("person_id", pid[hun], preg[hun], "PRG-HUNAR", "2021-01-01")
    add_rows("person_id", pid[dis], preg[dis], "PRG-DISAB", "2019-03-01")
    enr = pd.concat(rows, ignore_index=True)
    enr = enr.iloc[rng.permutation(len(enr))].reset_index(drop=True)
    enr.insert(0, "enrolment_id", [f"ENR{i:08d}" for i in range(1, len(enr) + 1)])

    # referrals: a few households referred at registration or between programmes
    n_ref = max(5, n_h // 250)
    pick = rng.choice(n_h, size=min(n_ref, n_h), replace=False)
    members = pe.groupby("hh")["person_id"].first()
    enr_by_hh = enr.dropna(subset=["household_id"]).groupby("household_id")["programme_id"].first()
    progs = [pr[0] for pr in PROGRAMMES]
    statuses = ["pending", "accepted", "rejected", "completed"]
    ref_rows = []
    for k, hidx in enumerate(pick):
        h = g.households[int(hidx)]
        hid_k = hid[hidx]
        from_p = enr_by_hh.get(hid_k) if rng.random() < 0.6 else None
        to_p = progs[int(rng.integers(len(progs)))]
        if to_p == from_p:
            to_p = progs[(progs.index(to_p) + 1) % len(progs)]
        referred = min(int(hreg[hidx]) + int(rng.integers(0, 500)), REF)
        status = statuses[int(rng.choice(4, p=[0.3, 0.25, 0.15, 0.3]))]
        closed = (date.fromordinal(min(referred + int(rng.integers(5, 120)), REF)).isoformat()
                  if status in ("rejected", "completed") else None)
        person = members.get(int(hidx)) if rng.random() < 0.5 else None
        ref_rows.append((f"REF{k + 1:06d}", hid_k, person, from_p, to_p, h.ap,
                         date.fromordinal(referred).isoformat(), status, closed))
    ref = pd.DataFrame(ref_rows, columns=["referral_id", "household_id", "person_id",
                                          "from_programme_id", "to_programme_id",
                                          "access_point_id", "referred_on", "status",
                                          "closed_on"])
    return enr, ref


def write_outputs(g: Generator, out: Path, truth: Path) -> dict:
    rng = g.rng
    n_h = len(g.households)
    hh_ids = np.char.add("H", random_codes(rng, n_h, 9)).astype(object)
    hh = pd.DataFrame({
        "household_id": hh_ids,
        "area_id": [g.ucs[h.uc]["id"] for h in g.households],
        "reg": np.array([h.reg for h in g.households], dtype=np.int64),
        "pmt": [h.pmt if h.pmt is not None else np.nan for h in g.households],
        "access_point_id": [h.ap for h in g.households],
        "latitude": [h.lat if h.lat is not None else np.nan for h in g.households],
        "longitude": [h.lon if h.lon is not None else np.nan for h in g.households],
    })
    hh["registered_on"] = iso_dates(hh["reg"].to_numpy())
    ps = g.persons
    n_p = len(ps)
    pids = random_codes(rng, n_p, 8).astype(object)
    pe = pd.DataFrame({
        "person_id": pids,
        "hh": np.array([q.hh for q in ps], dtype=np.int64),
        "national_id": [q.nid for q in ps],
        "first_name": [q.first for q in ps],
        "last_name": [q.last for q in ps],
        "father_name": [q.father for q in ps],
        "phone": [q.phone for q in ps],
        "sex": [q.sex for q in ps],
        "dob": np.array([q.dob if q.dob is not None else -1 for q in ps], dtype=np.int64),
        "disability": np.array([q.disability for q in ps], dtype=np.int64),
        "is_head": np.array([1 if q.is_head else 0 for q in ps], dtype=np.int64),
        "reg": np.array([q.reg for q in ps], dtype=np.int64),
        "true_dob": np.array([q.true_dob for q in ps], dtype=np.int64),
        "cluster": np.array([q.cluster for q in ps], dtype=np.int64),
    })
    pe["household_id"] = hh_ids[pe["hh"].to_numpy()]
    pe["birth_date"] = iso_dates(pe["dob"].to_numpy())
    pe["registered_on"] = iso_dates(pe["reg"].to_numpy())

    enr, ref = build_enrolments(g, hh, pe, rng)

    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        out.unlink()
    con = sqlite3.connect(out)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    for stmt in DDL:
        con.execute(stmt)
    con.executemany("INSERT INTO area VALUES (?,?,?,?,?)", sorted(g.areas, key=lambda a: a[0]))
    con.executemany("INSERT INTO access_point VALUES (?,?,?,?,?,?,?)", g.access_points)
    h_cols = ["household_id", "area_id", "registered_on", "pmt", "access_point_id", "latitude",
              "longitude"]
    con.executemany("INSERT INTO household VALUES (?,?,?,?,?,?,?)",
                    _rows(hh[h_cols].sort_values("household_id")))
    p_cols = ["person_id", "household_id", "national_id", "first_name", "last_name",
              "father_name", "phone", "sex", "birth_date", "disability", "is_head",
              "registered_on"]
    con.executemany("INSERT INTO person VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    _rows(pe[p_cols].sort_values("person_id")))
    con.executemany("INSERT INTO programme VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", PROGRAMMES)
    con.executemany("INSERT INTO enrolment VALUES (?,?,?,?,?,?)", _rows(enr))
    con.executemany("INSERT INTO referral VALUES (?,?,?,?,?,?,?,?,?)", _rows(ref))
    con.commit()
    con.close()

    # truth: every pair of records of the same real person
    cl = pe.loc[pe["cluster"].duplicated(keep=False), ["cluster", "person_id"]]
    pairs = []
    for _, ids in cl.groupby("cluster")["person_id"]:
        ids = sorted(ids)
        for a in range(len(ids)):
            for b in range(a + 1, len(ids)):
                pairs.append((ids[a], ids[b]))
    pairs.sort()
    truth.parent.mkdir(parents=True, exist_ok=True)
    with truth.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["person_id_a", "person_id_b"])
        w.writerows(pairs)

    # common-name collisions among distinct real persons (a hard negative measure)
    real = pe[~pe.duplicated("cluster")].copy()
    real["district"] = [g.ucs[g.households[i].uc]["district"] for i in real["hh"]]
    real["year"] = pd.to_datetime(real["birth_date"]).dt.year
    sizes = real.dropna(subset=["year"]).groupby(
        ["first_name", "last_name", "year", "district"], dropna=False).size()
    collisions = int((sizes * (sizes - 1) // 2).sum())
    top = real.groupby(["first_name", "last_name"], dropna=False).size().nlargest(3)
    return {
        "persons": n_p, "households": n_h, "pairs": len(pairs), "enrolments": len(enr),
        "referrals": len(ref), "collisions": collisions,
        "top_names": ", ".join(f"{a} {b if isinstance(b, str) else ''}".strip() + f" ({n})"
                               for (a, b), n in top.items()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--persons", type=int, default=100_000,
                    help="approximate number of person rows (duplicates included)")
    ap.add_argument("--out", type=Path, required=True, help="SQLite file to write")
    ap.add_argument("--truth", type=Path, required=True, help="CSV of true duplicate pairs")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--profile", choices=sorted(PROFILES), default="kp")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    g = Generator(args.seed, args.profile)
    g.generate(args.persons)
    t1 = time.perf_counter()
    s = write_outputs(g, args.out, args.truth)
    t2 = time.perf_counter()

    clusters = Counter(d.cluster for d in g.dups)
    print(f"foreign registry  profile={args.profile} seed={args.seed}")
    print(f"  person rows        {s['persons']:>9,}  (real persons {s['persons'] - len(g.dups):,})")
    print(f"  households         {s['households']:>9,}  (of which {s['households'] - g.n_real_households:,} created by re-registration)")
    print(f"  duplicate records  {len(g.dups):>9,}  ({len(clusters):,} persons duplicated, "
          f"{sum(1 for v in clusters.values() if v >= 2):,} of them twice)")
    print(f"  duplicate pairs    {s['pairs']:>9,}")
    print(f"  enrolments         {s['enrolments']:>9,}   referrals {s['referrals']:,}")
    print("  placements:  " + ", ".join(f"{k} {v}" for k, v in sorted(g.placements.items())))
    print("  corruptions:")
    for k, v in sorted(g.counts.items(), key=lambda kv: -kv[1]):
        print(f"    {k:<36}{v:>8,}")
    print("  hard negatives:  " + ", ".join(f"{k} {v}" for k, v in sorted(g.hard.items()))
          + f", same name+surname+birth year+district pairs {s['collisions']:,}")
    print(f"  most common full names: {s['top_names']}")
    print(f"  wrote {args.out} and {args.truth} in {t2 - t0:.1f} s "
          f"(generation {t1 - t0:.1f} s, writing {t2 - t1:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
