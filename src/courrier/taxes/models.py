"""Follow-up of VAT returns, ISOC, IPP and BNB filings, and their lists."""
