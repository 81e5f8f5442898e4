"""Reading and writing image files, and finding them."""
