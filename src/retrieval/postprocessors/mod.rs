//! Post-processors (`mean_600(PV)`, `firstSample`, `deadBand_2.0`, …).
