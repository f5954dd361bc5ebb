"""The mailing screens, one module per page (`urls.py` and `link_urls.py` name them):

- `profiles`: the sending settings — "Ma fiche", a billing company's sending page, the test button;
- `compose`, `compose_window`, `compose_parts`: the compose window — its page and "Envoyer", the
  state it is built from, and the parts it refreshes (check, preview, files, templates);
- `batches`: the page of a send to several clients;
- `archive`: a message's page, its .eml and attachments, the outbox, the undelivered list;
- `templates`: the mail templates' catalogue and form;
- `phrases`: the standard phrases' pages and what the compose window asks of them;
- `links`: the public pages of secure links (no login);
- `common`: what the screens share.
"""
