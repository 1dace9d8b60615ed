"""SIP: our asyncio SIP stack (transports, message layer, transactions, dialogs, registrar)."""
