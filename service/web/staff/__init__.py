"""Staff accounts shared by the merchant portal and the finance console: merchant users
(owner, analyst; one merchant each) and finance users (reviewer, approver), their sign-in,
invitations, and the role and tenant checks every staff page makes on the server."""
