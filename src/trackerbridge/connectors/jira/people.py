"""Jira accounts for people: accountId on Cloud, username on Data Center, looked up once per connector."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from trackerbridge.connectors.base import ConnectorError
from trackerbridge.connectors.errors import STOPS
from trackerbridge.connectors.jira.client import JiraClient
from trackerbridge.connectors.record_write import unique
from trackerbridge.model import Person


class JiraPeople(JiraClient):
    """People to accounts (the attributes are set by `JiraConnector.__init__`)."""

    max_workers: int
    _people_lock: threading.Lock
    _people: dict[str, str | None]
    _people_why: dict[str, str]

    def resolve_people(self, people: Iterable[Person]) -> dict[str, str]:
        """Person.identity -> accountId (Cloud) or username (Data Center), looked up once per connector.

        By e-mail through user/search, matched exactly on emailAddress (Cloud hides addresses by
        privacy setting: then a Jira reference the person already carries is checked instead);
        on Data Center, a person without an e-mail is looked up by username or unique display name."""
        self._connect()
        wanted = unique(people)
        with self._people_lock:
            todo = [p for p in wanted if p.identity not in self._people]
        if len(todo) > 1 and self.max_workers > 1:
            with ThreadPoolExecutor(min(self.max_workers, len(todo)), thread_name_prefix="tb-jira-people") as pool:
                list(pool.map(self._lookup, todo))
        else:
            for p in todo:
                self._lookup(p)
        with self._people_lock:
            return {p.identity: ref for p in wanted if (ref := self._people.get(p.identity))}

    def _lookup(self, person: Person) -> None:
        """Find one person's account and cache it (None: no account); a failed lookup is not cached."""
        try:
            ref = None
            if person.email:
                ref = self._user_by_email(person.email)
            if ref is None and person.ref:
                ref = self._user_by_ref(person.ref)
            if ref is None and not person.email and not person.ref and person.name and self.flavor != "cloud":
                ref = self._user_by_name(person.name)
        except STOPS:
            raise
        except ConnectorError as exc:
            with self._people_lock:
                self._people_why[person.identity] = str(exc).removeprefix(f"jira {self.name!r}: ")
            return
        with self._people_lock:
            self._people[person.identity] = ref
            self._people_why.pop(person.identity, None)

    def _user_by_email(self, email: str) -> str | None:
        """The account with that e-mail. On Cloud, `user/search?query=` matches e-mail addresses even of
        people whose profile hides theirs (no emailAddress in the answer): the one account it finds that
        shows no other address is theirs; several such accounts are ambiguous, and the reason is kept."""
        cloud = self.flavor == "cloud"
        params = {"query": email} if cloud else {"username": email}
        users = self._user_search(params, f"looking up the user {email}")
        found = [u for u in users if str(u.get("emailAddress") or "").casefold() == email.casefold()]
        if not found and cloud:
            found = [u for u in users if not u.get("emailAddress") and u.get("accountType", "atlassian") == "atlassian"]
            if len({self._user_ref(u) for u in found} - {None}) > 1:
                raise ConnectorError(
                    f"{len(found)} Jira accounts that hide their e-mail match {email}; map the person by account id"
                )
        refs = {r for u in found if (r := self._user_ref(u))}
        return refs.pop() if len(refs) == 1 else None

    def _user_by_name(self, name: str) -> str | None:
        """Data Center: a username, or a display name that only one active user has."""
        users = self._user_search({"username": name}, f"looking up the user {name}")
        exact = [u for u in users if u.get("name") == name]
        shown = [u for u in users if str(u.get("displayName") or "").casefold() == name.casefold()]
        chosen = exact or shown
        return self._user_ref(chosen[0]) if len(chosen) == 1 else None

    def _user_by_ref(self, ref: str) -> str | None:
        """A reference the person already carries, if it is an active account of this site."""
        params = {"accountId": ref} if self.flavor == "cloud" else {"username": ref}
        what = f"looking up the user {ref}"
        response = self._request(what, "GET", "user", params=params, accept=(400, 404))
        if response is None or not response.ok:
            return None
        user = self._json(what, response)
        return self._user_ref(user) if isinstance(user, dict) else None

    def _user_search(self, params: dict[str, Any], what: str) -> list[dict[str, Any]]:
        response = self._request(what, "GET", "user/search", params={**params, "maxResults": 50})
        users = self._json(what, response)
        return [u for u in users if isinstance(u, dict)] if isinstance(users, list) else []

    def _user_ref(self, user: dict[str, Any]) -> str | None:
        if user.get("active") is False:
            return None
        ref = user.get("accountId") if self.flavor == "cloud" else user.get("name")
        return str(ref) if ref else None
