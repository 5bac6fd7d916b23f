"""The finance console at /finance: settlement runs and their approval (maker-checker),
statements reconciled to the ledger, invoices and payouts, a ledger explorer, attribution
and lift across merchants; CSV wherever a table is shown."""
