"""Courrier: the e-mail centre of a Belgian accounting firm."""
