"""The imaging pages, a module each; every route registers on the imaging blueprint.

Thin views: parse the form, call the services (imaging.services asks imaging.workflow who may do
what) inside one ``saving()`` unit of work (webapp.web.service_calls), render. They read through
imaging.queries and imaging.catalogue and never use the session themselves. htmx requests get a
block of the same template (render_page).

- orders.py: the order list, the order page, and answering with the order page after a change;
- order_actions.py: the order page's action forms (schedule, start, report, cancel, note, ...);
- order_form.py: the order form's page, shared by new_order.py (placing an order from a visit,
  once per form: imaging.form_submissions) and edit_order.py (correcting an order);
- schedule.py: the schedule board (/imaging/schedule) and the schedule form's view of a scanner's day;
- requisition.py: the printable requisition (/imaging/orders/{id}/requisition.pdf);
- booking.py: booking from the board, and a scanner's downtime page (/imaging/schedule/...);
- durations.py: the procedures' durations (/admin/durations, administrators);
- tablet.py: the technician's tablet at /imaging/worklist (today's scans; not the DICOM worklist).
"""

from webapp.imaging.views import (  # noqa: F401
    booking,
    durations,
    edit_order,
    new_order,
    order_actions,
    orders,
    requisition,
    schedule,
    tablet,
)
