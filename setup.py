"""Which packages the wheel holds; everything else is in pyproject.toml.

Every package under twilio_fake/ (each resource is one) and the contract kit are found here, and
the top-level handlers/ is installed as twilio_fake.handlers (pyproject.toml's package-dir):
adding a resource adds no line to either file.
"""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["twilio_fake", "twilio_fake.*", "twilio_fake_contract"]),
        "twilio_fake.handlers",
    ]
)
