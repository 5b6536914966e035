"""A double click that reaches the server twice at the same moment places one order, on SQLite
and on PostgreSQL (the token's primary key makes the second submission wait, then see the first)."""

import threading

from tests.pages.test_order_form import _count_orders, _form, _token, _valid


def test_concurrent_double_submit_creates_one_order(app, make_user, make_visit):
    doctor = make_user("doctor", username="quick-clicker", password="right-password-1")
    visit = make_visit()
    clients = [app.test_client(), app.test_client()]
    for c in clients:
        with c.session_transaction() as session:
            session["_user_id"] = doctor.get_id()
    token = _token(_form(clients[0], visit).data)
    answers = []

    def submit(c):
        answers.append(c.post("/imaging/orders/new", data=_valid(visit, token)).status_code)

    threads = [threading.Thread(target=submit, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(answers) == [303, 303]
    assert _count_orders(app, visit_id=visit.id) == 1
