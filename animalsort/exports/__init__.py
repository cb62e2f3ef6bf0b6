"""``animalsort export``: a predictions CSV in the formats camera-trap tools read — MegaDetector
batch JSON (megadetector), Camtrap DP 1.0.2 (camtrap), COCO Camera Traps (coco). records reads
the CSV, its sidecar and corrections; taxa, clock and deployments resolve what the formats need;
run streams the records into one writer and puts the output in place atomically."""
