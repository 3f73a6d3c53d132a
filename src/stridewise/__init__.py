"""stridewise: sourced recommendations that keep runners clear of bone stress injuries."""
