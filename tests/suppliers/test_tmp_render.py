from tests.fakes.supplier import fake_supplier  # noqa
from tests.helpers import login
def test_show(app, tree, client_for, fake_supplier):
    s = fake_supplier.create_supplier()
    c = client_for("master.localhost"); login(c, "owner@master.test")
    c.post(f"/admin/suppliers/{s.id}/sync")
    for p in [f"/admin/suppliers/{s.id}", f"/admin/suppliers/{s.id}/edit", "/admin/suppliers"]:
        print(c.get(p).get_data(as_text=True))
