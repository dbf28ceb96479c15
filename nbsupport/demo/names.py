"""Names and mail domains for demo users.

Every generated address is on a reserved `.example` domain (RFC 2606): a demo can never mail, or be mixed
up with, a real person, and `demo --reset` can tell demo users from real ones.
"""

from __future__ import annotations

FIRST_NAMES: tuple[str, ...] = (
    "Aaliyah", "Adam", "Adrian", "Aisha", "Akira", "Alejandro", "Alice", "Amara", "Amir", "Ana", "Andrei",
    "Anika", "Anna", "Arjun", "Astrid", "Ava", "Benjamin", "Bianca", "Bruno", "Camille", "Carlos", "Chen",
    "Chiara", "Chloe", "Daniel", "Daria", "David", "Diego", "Dmitri", "Elena", "Elif", "Elijah", "Emeka",
    "Emil", "Emma", "Farah", "Felix", "Fatima", "Finn", "Freya", "Gabriel", "Giulia", "Hana", "Hannah",
    "Hassan", "Henrik", "Hiroshi", "Ibrahim", "Ines", "Ingrid", "Isabel", "Ivan", "Jakub", "James", "Jana",
    "Javier", "Jin", "Johan", "Jonas", "Julia", "Kai", "Karim", "Katarzyna", "Kenji", "Khalid", "Kofi",
    "Lara", "Laura", "Leila", "Leon", "Lina", "Luca", "Lucas", "Lukas", "Maja", "Malik", "Marco", "Maria",
    "Mateo", "Maya", "Mehmet", "Mei", "Mia", "Mikael", "Min-jun", "Nadia", "Nia", "Nikolai", "Noah", "Nora",
    "Olga", "Oliver", "Omar", "Oscar", "Paula", "Pedro", "Pierre", "Priya", "Rafael", "Ravi", "Rosa",
    "Sakura", "Samir", "Sara", "Sebastian", "Selin", "Sofia", "Sven", "Tariq", "Thomas", "Tomas", "Valentina",
    "Viktor", "Wei", "Yara", "Yusuf", "Zara", "Zoe",
)

LAST_NAMES: tuple[str, ...] = (
    "Abe", "Adeyemi", "Alvarez", "Andersen", "Baker", "Becker", "Bianchi", "Brown", "Castro", "Chen", "Costa",
    "Dubois", "Eriksson", "Fernandes", "Fischer", "Garcia", "Gomez", "Gupta", "Hansen", "Hoffmann", "Horvat",
    "Ibrahim", "Ivanova", "Jansen", "Johansson", "Kaya", "Kim", "Kowalski", "Kumar", "Larsen", "Laurent",
    "Lee", "Lopez", "Martin", "Meyer", "Moreau", "Muller", "Nakamura", "Nguyen", "Novak", "Okafor",
    "Olsen", "Ortiz", "Papadopoulos", "Park", "Patel", "Perez", "Petrov", "Popescu", "Rahman", "Rossi",
    "Russo", "Santos", "Sato", "Schmidt", "Schneider", "Silva", "Singh", "Smith", "Sokolov", "Suzuki",
    "Tanaka", "Taylor", "Torres", "Vargas", "Walker", "Wang", "Weber", "Wilson", "Wojcik", "Yamamoto",
    "Yilmaz", "Zhang", "Zimmermann",
)

# (domain, weight): shaped like the real mix of consumer and company mail.
EMAIL_DOMAINS: tuple[tuple[str, float], ...] = (
    ("gmail.example", 0.42), ("outlook.example", 0.12), ("proton.example", 0.1), ("yahoo.example", 0.08),
    ("icloud.example", 0.08), ("gmx.example", 0.06), ("web.example", 0.04), ("fastmail.example", 0.03),
    ("trading-desk.example", 0.04), ("capital-partners.example", 0.03),
)

DEMO_EMAIL_SUFFIXES: tuple[str, ...] = (".example", "@noonbarbari.local")
