from django.core.mail import EmailMessage


def test_the_development_mail_folder_keeps_links_whole(settings, tmp_path):
    settings.MAILERS = {
        "default": {
            "BACKEND": "nudges.devmail.ReadableFileEmailBackend",
            "OPTIONS": {"file_path": str(tmp_path)},
        }
    }
    link = "http://127.0.0.1:8000/c/eyJjIjoxMjB9:1xWtPu:GSYxUvtQv4fshV-lianTsTv6joP67oV3o/"
    EmailMessage("Your weekly check-in, Renée", f"Hi Renée,\n\n{link}\n", to=["renee@example.com"]).send()
    written = next(tmp_path.iterdir()).read_text()
    assert link in written.splitlines()
    assert "[as read] Subject: Your weekly check-in, Renée" in written
